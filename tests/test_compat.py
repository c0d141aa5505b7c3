"""Canaries for every Dagster internal we use (kestra_dagster/compat.py), one test each.

When a Dagster upgrade moves or renames one of them, the failing test names the accessor, and
compat.py is the one file to fix. Each canary checks the exact shape we rely on (the attribute
we patch, the columns we query), not only that the import works.
"""

from __future__ import annotations

import inspect
from datetime import datetime, timezone

import pytest
from dagster import DagsterInstance, OpDefinition, op

from kestra_dagster import compat


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def test_code_server_class_has_the_methods_we_patch():
    server = compat.code_server_class(import_it=True)
    assert server.__name__ == "DagsterApiServer"
    # server/code_server_fix.py wraps this; compiler/run_workers.py wraps StartRun and sets _mp_ctx
    assert callable(getattr(server, "_check_for_orphaned_runs", None))
    assert callable(getattr(server, "StartRun", None))
    assert "_mp_ctx" in server.__init__.__code__.co_names
    # compiler/snapshot_cache.py answers this one from its cache, with what repository_of_request reads
    method = getattr(server, "_get_serialized_external_repository_data", None)
    assert callable(method) and "_get_repo_for_origin" in method.__code__.co_names
    assert "serialized_repository_python_origin" in method.__code__.co_names
    job = getattr(server, "ExternalJob", None)
    assert callable(job) and {"serialized_repository_origin", "job_name", "ExternalJobReply"} <= set(job.__code__.co_names)
    assert compat.external_job_reply("{}").serialized_job_data == "{}"


def test_repository_snapshot_helpers_on_a_lazy_repository():
    from types import SimpleNamespace

    import dagster as dg
    from dagster._core.remote_origin import RemoteRepositoryOrigin
    from dagster._serdes import serialize_value

    built = []

    def job():
        built.append(1)
        return dg.GraphDefinition(name="lazy", node_defs=[]).to_job()

    repository = dg.repository(name="r")(lambda: {"jobs": {"lazy": job}})
    compat.skip_job_preload(repository, lambda: True)
    repository.load_all_definitions()  # what a code server calls as it loads
    assert built == []
    assert '"lazy"' in compat.serialized_repository_snap(repository, defer_snapshots=True) and built == [1]
    server = SimpleNamespace(_get_repo_for_origin=lambda o: repository if o.repository_name == "r" else None)
    request = SimpleNamespace(serialized_repository_python_origin=serialize_value(
        RemoteRepositoryOrigin(code_location_origin=_in_process_origin(), repository_name="r")))
    assert compat.repository_of_request(server, request.serialized_repository_python_origin) is repository
    assert '"lazy"' in compat.serialized_job_data_snap(repository, "lazy")


def _in_process_origin():
    import sys

    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    return InProcessCodeLocationOrigin(LoadableTargetOrigin(executable_path=sys.executable, module_name="x"))


def test_code_server_class_is_none_outside_a_code_server(monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, compat.GRPC_SERVER_MODULE, raising=False)
    assert compat.code_server_class() is None


def test_job_origins_rebuild_a_launched_runs_origins_for_another_job():
    import sys
    from types import SimpleNamespace

    # the origins a launched run carries, built here from Dagster's own types (what a code server sets)
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.origin import RepositoryPythonOrigin
    from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteRepositoryOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    target = LoadableTargetOrigin(executable_path=sys.executable, module_name="kestra_dagster.definitions")
    remote_repo = RemoteRepositoryOrigin(code_location_origin=InProcessCodeLocationOrigin(target), repository_name="r")
    code_repo = RepositoryPythonOrigin(sys.executable, ModuleCodePointer("kestra_dagster.definitions", "defs", None))
    launched = SimpleNamespace(remote_job_origin=SimpleNamespace(repository_origin=remote_repo),
                               job_code_origin=SimpleNamespace(repository_origin=code_repo))
    origin, code_origin = compat.job_origins(launched, "child_job")
    assert origin.job_name == "child_job" and origin.repository_origin == remote_repo
    assert code_origin.job_name == "child_job" and code_origin.repository_origin == code_repo


def test_grpc_info_tag_is_a_dagster_tag():
    assert compat.grpc_info_tag() == ".dagster/grpc_info"


def test_code_location_client_skips_the_snapshot_load():
    location = compat.code_location_client("loc", {"host": "127.0.0.1", "port": 1})
    assert type(location).__mro__[1].__name__ == "GrpcServerCodeLocation"
    assert location.client.port == 1 and location.origin.location_name == "loc"


def test_new_run_id_is_a_uuid():
    import uuid

    assert uuid.UUID(compat.new_run_id())


def test_run_worker_modules_import():
    compat.preload_run_worker_modules()


def test_sensor_daemon_has_the_loop_floor_we_lower():
    module = compat.sensor_daemon_module()
    assert module is not None and module.MIN_INTERVAL_LOOP_TIME == 5


def test_daemon_cli_is_the_stock_click_group():
    cli = compat.daemon_cli()
    assert "run" in cli.commands


def test_daemon_statuses_read_heartbeats(instance):
    statuses = compat.daemon_statuses(instance, heartbeat_tolerance_seconds=60)
    assert isinstance(statuses, dict)
    for status in statuses.values():
        assert hasattr(status, "healthy") and hasattr(status, "required") and hasattr(status, "last_heartbeat")


def test_instance_from_dir_and_instance_config(tmp_path):
    (tmp_path / "dagster.yaml").write_text(
        "telemetry: {enabled: false}\nrun_coordinator: " + repr(compat.run_coordinator()).replace("'", '"') + "\n"
    )
    inst = compat.instance_from_dir(str(tmp_path))
    try:
        assert inst.root_directory == str(tmp_path)
    finally:
        inst.dispose()
    assert compat.instance_config(str(tmp_path))["run_coordinator"]["class"] == "DefaultRunCoordinator"


def test_instance_config_class_references_resolve():
    import importlib

    for ref in (compat.LOCAL_ARTIFACT_STORAGE, compat.LOCAL_COMPUTE_LOG_MANAGER,
                {"module": compat.RUN_COORDINATOR_MODULE, "class": "QueuedRunCoordinator"}):
        assert hasattr(importlib.import_module(ref["module"]), ref["class"]), ref


def test_sql_run_storage_and_kv_table(instance):
    storage = compat.sql_run_storage(instance)
    assert storage is not None and callable(storage.connect)
    table = compat.kv_table()
    assert {"key", "value"} <= set(table.c.keys())
    instance.run_storage.set_cursor_values({"canary/k": "v"})
    with storage.connect() as conn:
        rows = conn.execute(table.select().where(table.c.key == "canary/k")).fetchall()
    assert [tuple(r)[-1] for r in rows] == ["v"]


def test_kept_engine_reaches_the_run_storage_database(tmp_path):
    import sqlalchemy as sa

    with DagsterInstance.local_temp(str(tmp_path)) as inst:
        engine = compat.kept_engine(compat.sql_run_storage(inst))
        assert engine is not None and engine.pool.size() == 1
        with engine.connect() as conn:  # Dagster's own tables are there
            assert "runs" in sa.inspect(conn).get_table_names()
        engine.dispose()


def test_cron_helpers():
    assert compat.is_valid_cron("*/5 * * * *") and not compat.is_valid_cron("61 * * * *")
    start = datetime(2026, 1, 1, 12, 2, tzinfo=timezone.utc).timestamp()
    assert next(compat.cron_ticks("*/5 * * * *", "UTC", start)).minute == 5
    assert next(compat.cron_ticks_before("*/5 * * * *", "UTC", start)).minute == 0


def test_clone_op_uses_the_fast_path():
    @op
    def prototype(context):
        return 1

    clone = compat.clone_op(prototype, "other", "desc", {"k": "v"}, lambda context: 2)
    assert isinstance(clone, OpDefinition)
    assert (clone.name, clone.description, clone.tags) == ("other", "desc", {"k": "v"})
    assert prototype.name == "prototype"


def test_delete_log_lines_removes_only_the_selected_user_lines(tmp_path):
    from dagster import job

    @op
    def talk(context):
        context.log.info("keep me")
        context.log.debug("drop me")

    @job
    def chatty():
        talk()

    with DagsterInstance.local_temp(str(tmp_path)) as inst:
        run_id = chatty.execute_in_process(instance=inst).run_id
        events_before = sum(1 for e in inst.all_logs(run_id) if e.is_dagster_event)
        assert compat.delete_log_lines(inst, run_id, lambda entry: entry.user_message == "drop me") == 1
        lines = [e.user_message for e in inst.all_logs(run_id) if not e.is_dagster_event]
        assert "keep me" in lines and "drop me" not in lines
        assert sum(1 for e in inst.all_logs(run_id) if e.is_dagster_event) == events_before


def test_instigator_state_helpers_write_what_the_daemon_reads(tmp_path):
    from dagster import ScheduleDefinition, job
    # the origin shape a launched run carries (run.remote_job_origin.repository_origin)
    from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteRepositoryOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    @job
    def nothing():
        pass

    schedule = ScheduleDefinition(name="yearly", cron_schedule="0 0 1 1 *", job=nothing)
    origin = RemoteRepositoryOrigin(InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="x")), "repo")
    with DagsterInstance.local_temp(str(tmp_path)) as inst:
        compat.set_instigator_running(inst, origin, schedule, False)
        assert compat.instigator_status(inst, origin, "yearly") == "STOPPED"
        compat.set_instigator_running(inst, origin, schedule, True)
        assert compat.instigator_status(inst, origin, "yearly") == "RUNNING"
        (state,) = compat.instigator_states_named(inst, {"yearly"})
        assert state.origin.repository_origin == origin
