"""The one place that leans on Dagster internals, so an upgrade has one file to check.

Every ``dagster._*`` import of the package is here (``python -m kestra_dagster.devtools imports``
fails on any other), each behind a small function imported on call (a CLI or a run worker does
not pay for gRPC or daemon modules it never uses), and each has a canary in tests/test_compat.py
that fails loudly, naming the accessor, when a Dagster upgrade moves it. Checked against dagster
1.13. Module paths Dagster's own ``dagster.yaml`` needs (``{module, class}``) are constants here.

**Op cloning.** Building an ``OpDefinition`` through its public constructor costs ~0.5 ms (type resolution of
every In/Out); a code location with 10,000 tasks would spend 5 s there. Every task op shares the
same inputs and outputs, so we build one prototype per shape and copy it with a new name,
description, tags and compute function (~20× cheaper). If Dagster renames those attributes the
copy falls back to the public constructor, which is slower but always right.
"""

from __future__ import annotations

import copy
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

if TYPE_CHECKING:  # importing this module must stay cheap (config.py and CLIs read its constants)
    from dagster import OpDefinition

#: ``dagster.yaml`` class references (Dagster documents these module paths for instance config).
RUN_COORDINATOR_MODULE = "dagster._core.run_coordinator"
LOCAL_ARTIFACT_STORAGE = {"module": "dagster._core.storage.root", "class": "LocalArtifactStorage"}
LOCAL_COMPUTE_LOG_MANAGER = {"module": "dagster._core.storage.local_compute_log_manager",
                             "class": "LocalComputeLogManager"}
#: The module a code server imports first; a process without it is no code server.
GRPC_SERVER_MODULE = "dagster._grpc.server"


def run_coordinator(kind: str = "DefaultRunCoordinator", **config: Any) -> dict[str, Any]:
    """A ``run_coordinator`` entry of ``dagster.yaml`` (``DefaultRunCoordinator``/``QueuedRunCoordinator``)."""
    entry: dict[str, Any] = {"module": RUN_COORDINATOR_MODULE, "class": kind}
    if config:
        entry["config"] = dict(config)
    return entry


# ----------------------------------------------------------------------------- code server (gRPC)
def code_server_class(import_it: bool = False) -> type | None:
    """Dagster's ``DagsterApiServer``, or None in a process that has not imported it (no code server).

    Used to harden the orphaned-run check (server/code_server_fix.py) and to start run workers from
    a fork server (compiler/run_workers.py); both patch methods of this class.
    """
    if not import_it and GRPC_SERVER_MODULE not in sys.modules:
        return None
    from dagster._grpc.server import DagsterApiServer

    return DagsterApiServer


def repository_of_request(server: Any, serialized_origin: str) -> Any:
    """The ``RepositoryDefinition`` a code server's request is about (the request's serialised
    ``RemoteRepositoryOrigin``: ``serialized_repository_python_origin`` of ``ExternalRepository``,
    ``serialized_repository_origin`` of ``ExternalJob``)."""
    from dagster._core.remote_origin import RemoteRepositoryOrigin
    from dagster._serdes import deserialize_value

    return server._get_repo_for_origin(deserialize_value(serialized_origin, RemoteRepositoryOrigin))


def external_job_reply(serialized_job_data: str) -> Any:
    """A code server's answer to ``ExternalJob`` carrying ``serialized_job_data``."""
    from dagster._grpc.__generated__ import dagster_api_pb2

    return dagster_api_pb2.ExternalJobReply(serialized_job_data=serialized_job_data)


def serialized_job_data_snap(repository: Any, job_name: str) -> str:
    """What a code server answers to ``ExternalJob`` for ``job_name`` (its ``JobDataSnap``, serialised)."""
    from dagster._core.remote_representation.external_data import JobDataSnap
    from dagster._serdes import serialize_value

    return serialize_value(JobDataSnap.from_job_def(repository.get_job(job_name), include_parent_snapshot=True))


def serialized_repository_snap(repository: Any, defer_snapshots: bool) -> str:
    """What a code server answers for ``repository``: its ``RepositorySnap``, serialised (with
    ``defer_snapshots`` the jobs as references: what the webserver asks for when it loads)."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    return serialize_value(RepositorySnap.from_def(repository, defer_snapshots=defer_snapshots))


def skip_job_preload(repository: Any, skip: Callable[[], bool]) -> None:
    """Make ``repository.load_all_definitions()`` (what a code server calls as it loads, to build
    every lazily defined job up front) leave the jobs lazy whenever ``skip()`` says so; schedules
    and sensors are still loaded."""
    preload = repository.load_all_definitions

    def load_all_definitions() -> None:
        if not skip():
            return preload()
        data = repository._repository_data
        data.get_all_schedules()
        data.get_all_sensors()

    repository.load_all_definitions = load_all_definitions


def job_origins(launched: Any, job_name: str) -> tuple[Any, Any]:
    """(remote origin, code origin) of ``job_name`` in the code location that launched run ``launched``."""
    from dagster._core.origin import JobPythonOrigin
    from dagster._core.remote_origin import RemoteJobOrigin

    origin = RemoteJobOrigin(repository_origin=launched.remote_job_origin.repository_origin, job_name=job_name)
    code_origin = JobPythonOrigin(job_name, launched.job_code_origin.repository_origin)
    return origin, code_origin


def delete_log_lines(instance: Any, run_id: str, doomed: Callable[[Any], bool]) -> int:
    """Delete the user log lines (entries without a Dagster event) of run ``run_id`` that
    ``doomed(entry)`` selects; returns how many went.

    Kestra's ``PurgeLogs`` removes log lines, not execution history. A Dagster run's lines and its
    step events share one event log, and ``EventLogStorage.delete_events`` drops them all (the run
    page would lose its steps), so this deletes the selected rows by id on SQL event storages.
    """
    from dagster._core.events.log import EventLogEntry
    from dagster._core.storage.event_log.schema import SqlEventLogStorageTable as table
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
    from dagster._serdes import deserialize_value

    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage):
        raise RuntimeError(f"purging log lines needs a SQL event log storage, not {type(storage).__name__}")
    with storage.run_connection(run_id) as conn:
        rows = conn.execute(table.select().with_only_columns(table.c.id, table.c.event).where(
            table.c.run_id == run_id, table.c.dagster_event_type.is_(None))).fetchall()
        ids = [row[0] for row in rows if doomed(deserialize_value(row[1], EventLogEntry))]
        for start in range(0, len(ids), 500):
            conn.execute(table.delete().where(table.c.id.in_(ids[start:start + 500])))
    return len(ids)


def instigator_states_named(instance: Any, names: set[str]) -> list[Any]:
    """Stored schedule/sensor states whose name is one of ``names`` (any code location)."""
    return [state for state in instance.all_instigator_state() if state.origin.instigator_name in names]


def instigator_status(instance: Any, repository_origin: Any, name: str) -> str | None:
    """``RUNNING``/``STOPPED``/… as stored for schedule or sensor ``name`` of that code location."""
    from dagster._core.remote_origin import RemoteInstigatorOrigin

    origin = RemoteInstigatorOrigin(repository_origin=repository_origin, instigator_name=name)
    state = instance.get_instigator_state(origin.get_id(), origin.get_selector().get_id())
    return state.status.value if state is not None else None


def set_instigator_running(instance: Any, repository_origin: Any, definition: Any, running: bool) -> None:
    """Start or stop a schedule/sensor of the code location ``repository_origin`` names, as the UI's
    toggle does (``DagsterInstance.start_sensor``/``stop_schedule`` want a remote definition
    loaded from a workspace, which a run does not have; the stored state is what they write)."""
    from dagster import ScheduleDefinition
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.remote_origin import RemoteInstigatorOrigin
    from dagster._core.scheduler.instigation import (
        InstigatorState,
        InstigatorStatus,
        ScheduleInstigatorData,
        SensorInstigatorData,
    )
    from dagster._time import get_current_timestamp

    origin = RemoteInstigatorOrigin(repository_origin=repository_origin, instigator_name=definition.name)
    origin_id, selector_id = origin.get_id(), origin.get_selector().get_id()
    status = InstigatorStatus.RUNNING if running else InstigatorStatus.STOPPED
    now = get_current_timestamp()
    is_schedule = isinstance(definition, ScheduleDefinition)
    stored = instance.get_instigator_state(origin_id, selector_id)
    if is_schedule:
        data = ScheduleInstigatorData(cron_schedule=definition.cron_schedule, start_timestamp=now if running else None)
    else:
        data = SensorInstigatorData(min_interval=definition.minimum_interval_seconds,
                                    last_sensor_start_timestamp=now if running else None,
                                    sensor_type=definition.sensor_type)
    if stored is None:
        kind = InstigatorType.SCHEDULE if is_schedule else InstigatorType.SENSOR
        instance.add_instigator_state(InstigatorState(origin, kind, status, data))
    elif stored.status != status:
        if running and not is_schedule:
            data = stored.instigator_data.with_sensor_start_timestamp(now)
        elif not is_schedule:
            data = stored.instigator_data
        instance.update_instigator_state(stored.with_status(status).with_data(data))


def grpc_info_tag() -> str:
    """The run tag where the DefaultRunLauncher records the code server that launched a run."""
    from dagster._core.storage.tags import GRPC_INFO_TAG

    return GRPC_INFO_TAG


def code_location_client(location_name: str, info: dict) -> Any:
    """A ``GrpcServerCodeLocation`` holding only its gRPC client, which is all a run launcher uses.

    The public constructor first fetches the snapshot of every job in the location, which grows
    with the number of flows and is not needed to launch one run. Should a Dagster upgrade refuse
    these attributes, the public constructor is used instead (slower, still right).
    """
    from dagster._core.remote_origin import GrpcServerCodeLocationOrigin
    from dagster._core.remote_representation.code_location import GrpcServerCodeLocation
    from dagster._grpc.client import DagsterGrpcClient

    origin = GrpcServerCodeLocationOrigin(host=info["host"], port=info.get("port"), socket=info.get("socket"),
                                          location_name=location_name, use_ssl=info.get("use_ssl"))

    class _ClientOnly(GrpcServerCodeLocation):
        def __init__(self):  # noqa: D107 - deliberately skips the snapshot load
            self._origin = origin
            self._heartbeat_shutdown_event = None
            self._heartbeat_thread = None
            self.client = DagsterGrpcClient(port=origin.port, socket=origin.socket, host=origin.host,
                                            use_ssl=bool(origin.use_ssl))

    try:
        return _ClientOnly()
    except AttributeError:  # pragma: no cover - e.g. `client` became a read-only property
        return GrpcServerCodeLocation(origin=origin)


def new_run_id() -> str:
    """A run id made the way Dagster makes them (known before the run starts)."""
    from dagster._core.utils import make_new_run_id

    return make_new_run_id()


def preload_run_worker_modules() -> None:
    """Import what a run worker needs before its first step (the run-worker fork server preloads it)."""
    import dagster._core.execution.api  # noqa: F401
    import dagster._core.storage.event_log.sqlite  # noqa: F401
    import dagster._core.storage.runs.sqlite  # noqa: F401
    import dagster._core.storage.schedules.sqlite  # noqa: F401
    import dagster._core.workspace.autodiscovery  # noqa: F401 - finds `defs` in the code location module
    import dagster._grpc.impl  # noqa: F401


# ----------------------------------------------------------------------------- daemon
def sensor_daemon_module() -> ModuleType | None:
    """``dagster._daemon.sensor``, whose ``MIN_INTERVAL_LOOP_TIME`` (5 s) floors the sensor loop."""
    try:
        import dagster._daemon.sensor as sensor_daemon
    except ImportError:  # pragma: no cover
        return None
    return sensor_daemon


def daemon_cli() -> Any:
    """The stock ``dagster-daemon`` click group (so our entry point runs it after patching the loop)."""
    from dagster._daemon.cli import create_dagster_daemon_cli

    return create_dagster_daemon_cli()


def daemon_statuses(instance: Any, heartbeat_tolerance_seconds: float) -> dict[str, Any]:
    """Each required daemon's status (``healthy``, ``required``, ``last_heartbeat``) from its heartbeats."""
    from dagster._daemon.controller import get_daemon_statuses

    return get_daemon_statuses(instance, instance.get_required_daemon_types(),
                               heartbeat_tolerance_seconds=heartbeat_tolerance_seconds, ignore_errors=True)


# ----------------------------------------------------------------------------- instance storage
def instance_from_dir(home: str) -> Any:
    """The ``DagsterInstance`` of a ``DAGSTER_HOME`` directory other than this process's own."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    return DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def instance_config(home: str) -> dict[str, Any]:
    """The validated ``dagster.yaml`` of ``home`` as Dagster reads it."""
    from dagster._core.instance.config import dagster_instance_config

    return dagster_instance_config(str(home))[0]


def sql_run_storage(instance: Any) -> Any | None:
    """The instance's ``SqlRunStorage`` (unwrapping ``LegacyRunStorage``), or None.

    ``SqlRunStorage.connect()`` and ``KeyValueStoreTable`` let the KV store list and delete keys by
    prefix, which the public ``get_kvs``/``set_kvs`` cannot.
    """
    try:
        from dagster._core.storage.runs.sql_run_storage import SqlRunStorage
    except ImportError:  # pragma: no cover - dagster moved its internals
        return None
    storage = instance.run_storage
    for _ in range(3):
        if isinstance(storage, SqlRunStorage):
            return storage
        inner = getattr(getattr(storage, "_storage", None), "run_storage", None)
        if inner is None or inner is storage:
            return None
        storage = inner
    return None


def kept_engine(sql_storage: Any) -> Any | None:
    """A SQLAlchemy engine to ``sql_storage``'s database that keeps one connection, or None.

    Dagster's run storages open a connection per ``connect()`` (NullPool: a new TCP connection and
    SCRAM handshake on PostgreSQL, a new engine on SQLite); a writer that commits many times a
    second keeps one instead. Built from the storage's own URL (``_conn_string`` of
    ``SqliteRunStorage``; ``postgres_url`` and ``_token_provider`` of ``PostgresRunStorage``).
    Not autocommit: the caller commits each transaction itself.
    """
    import sqlalchemy as sa

    pool = {"poolclass": sa.pool.QueuePool, "pool_size": 1, "max_overflow": 0, "pool_pre_ping": True,
            "pool_recycle": 3600}
    conn_string = getattr(sql_storage, "_conn_string", None)
    if isinstance(conn_string, str) and conn_string.startswith("sqlite"):
        from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS

        return sa.create_engine(conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                                                           "check_same_thread": False}, **pool)
    postgres_url = getattr(sql_storage, "postgres_url", None)
    if isinstance(postgres_url, str):
        from dagster_postgres.utils import create_pg_engine

        return create_pg_engine(postgres_url, getattr(sql_storage, "_token_provider", None), **pool)
    return None


def kv_table() -> Any:
    """The SQLAlchemy table behind ``instance.get_kvs``/``set_kvs`` (columns ``key``, ``value``)."""
    from dagster._core.storage.runs.schema import KeyValueStoreTable

    return KeyValueStoreTable


# ----------------------------------------------------------------------------- schedules
def is_valid_cron(text: str) -> bool:
    """Dagster's own check of a schedule's cron string (what ``ScheduleDefinition`` would reject)."""
    from dagster._utils.schedules import is_valid_cron_string

    return is_valid_cron_string(text)


def cron_ticks(cron: str, tz: str, after: float) -> Iterator[Any]:
    """The schedule's ticks after timestamp ``after``, as Dagster computes them."""
    from dagster._utils.schedules import cron_string_iterator

    return cron_string_iterator(after, cron, tz)


def cron_ticks_before(cron: str, tz: str, before: float) -> Iterator[Any]:
    """The schedule's ticks before timestamp ``before``, newest first."""
    from dagster._utils.schedules import reverse_cron_string_iterator

    return reverse_cron_string_iterator(before, cron, tz)


# ----------------------------------------------------------------------------- op cloning

_FIELDS = ("_name", "_description", "_tags", "_compute_fn")


def clone_op(
    prototype: OpDefinition,
    name: str,
    description: str,
    tags: Mapping[str, Any],
    compute_fn: Callable[..., Any],
) -> OpDefinition:
    if all(hasattr(prototype, f) for f in _FIELDS):
        op = copy.copy(prototype)
        op._name = name  # type: ignore[attr-defined]
        op._description = description  # type: ignore[attr-defined]
        op._tags = dict(tags)  # type: ignore[attr-defined]
        op._compute_fn = compute_fn  # type: ignore[attr-defined]
        return op
    from dagster import OpDefinition

    return OpDefinition(  # pragma: no cover - only after a Dagster refactor
        compute_fn=compute_fn,
        name=name,
        ins={d.name: _in(d) for d in prototype.input_defs},
        outs={d.name: _out(d) for d in prototype.output_defs},
        description=description,
        tags=dict(tags),
        required_resource_keys=set(prototype.required_resource_keys),
    )


def _in(definition):  # pragma: no cover
    from dagster import In

    return In.from_definition(definition)


def _out(definition):  # pragma: no cover
    from dagster import Out

    return Out.from_definition(definition)


# ============================================================================ Kestra step rules
_installed = False


def install_step_rules(step_tag: str, quiet_failure: type) -> None:
    """Teach Dagster's step scheduler two Kestra rules, for steps tagged ``step_tag`` only.

    Dagster has no "run even if upstream failed" rule (dagster-io/dagster#15761): a failed step's
    consumers are *abandoned*. Kestra needs the failed task red **and** its ``errors``/``finally``
    to run in the same execution. A task step therefore yields its ``failed`` output and then
    fails; here, for our steps, an output that a failed step did not yield counts as *missing*
    (as for a succeeded step), so the usual optional-output rules apply: the next task is
    SKIPPED, and a fan-in (``errors``, ``finally``, the end node) runs when any of its sources was
    produced. A failed step's unyielded dynamic outputs resolve to "none", so its mapped steps
    skip too. Steps downstream of an abandoned step (a terminated run) are still abandoned, and
    every other job in the process keeps Dagster's own rules.

    Also: a ``quiet_failure`` exception (a ``dagster.Failure`` subclass) makes a step-failure
    event with its message and no Python stack: a task failure is not a bug of ours.
    """
    global _installed
    if _installed:
        return
    from dagster._core.execution.plan import active as _active
    from dagster._core.execution.plan import execute_plan as _execute_plan

    active_cls = _active.ActiveExecution
    original_update = active_cls._update
    original_mark_failed = active_cls.mark_failed
    original_failure_event = _execute_plan.step_failure_event_from_exc_info

    def ours(step) -> bool:
        return step_tag in (step.tags or {})

    def _update(self) -> None:
        original_update(self)
        for key in list(self._pending_abandon):
            step = self.get_step_by_key(key)
            if not ours(step):
                continue
            sources = [h for inp in step.step_inputs for h in inp.get_step_output_handle_dependencies()]
            if any(h.step_key in self._abandoned for h in sources):
                continue
            self._pending_abandon.remove(key)
            if _missing_inputs(self, step):
                self._pending_skip.append(key)
            else:
                self._executable.append(key)

    def mark_failed(self, step_key: str) -> None:
        original_mark_failed(self, step_key)
        if ours(self.get_step_by_key(step_key)):
            self._resolve_any_dynamic_outputs(step_key)

    def _failure_event(step_context, exc_info, user_failure_data=None, error_source=None):
        exc = exc_info[1]
        if isinstance(exc, quiet_failure):
            from dagster._core.events import DagsterEvent
            from dagster._core.execution.plan.objects import StepFailureData
            from dagster._utils.error import SerializableErrorInfo

            return DagsterEvent.step_failure_event(
                step_context=step_context,
                step_failure_data=StepFailureData(
                    error=SerializableErrorInfo(message=str(exc.description), stack=[], cls_name=None),
                    user_failure_data=user_failure_data, error_source=None,
                ),
            )
        return original_failure_event(step_context, exc_info, user_failure_data, error_source)

    active_cls._update = _update
    active_cls.mark_failed = mark_failed
    _execute_plan.step_failure_event_from_exc_info = _failure_event
    _installed = True


def _missing_inputs(active, step) -> bool:
    """Dagster's optional-output skip rule, with outputs a failed step did not yield counted missing."""
    from dagster._core.execution.plan.inputs import FromMultipleSources

    resolved = active._success | active._skipped | active._failed
    for step_input in step.step_inputs:
        handles = list(step_input.get_step_output_handle_dependencies())
        missing = [h for h in handles if h.step_key in resolved and h not in active._step_outputs]
        if missing and (not isinstance(step_input.source, FromMultipleSources) or len(missing) == len(handles)):
            active._skipped_deps[step.key] = [f"{h.step_key}.{h.output_name}" for h in missing]
            return True
    return False


def collect_dependency(node: str, output: str) -> Any:
    """A dependency that collects every item of a mapped node's output (``.collect()`` of the
    composition API), for graphs assembled from dependency dicts, which Dagster only offers
    through a private class."""
    from dagster._core.definitions.dependency import DynamicCollectDependencyDefinition

    return DynamicCollectDependencyDefinition(node, output)
