"""Our configuration → a Dagster instance on a real (throwaway) PostgreSQL 15 cluster."""

from __future__ import annotations

import os
import subprocess

import pytest

from kestra_dagster.config import ConfigError, load_config, prepare_instance

from deploy_helpers import FLOWS, ROOT, psql

pytestmark = pytest.mark.timeout(240)


@pytest.fixture()
def clean_environ():
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _config_yaml(pg: dict) -> str:
    return (
        "datasources:\n  postgres:\n"
        f"    url: jdbc:postgresql://127.0.0.1:{pg['port']}/{pg['db']}\n"
        f"    username: {pg['user']}\n    password: ${{TEST_PG_PASSWORD}}\n"
        "kestra:\n  repository:\n    type: postgres\n  queue:\n    type: postgres\n"
    )


def test_flow_runs_land_in_postgres(postgres, tmp_path, clean_environ):
    os.environ["TEST_PG_PASSWORD"] = postgres["password"]
    os.environ["KESTRA_CONFIGURATION"] = _config_yaml(postgres)
    config = load_config()
    assert config.storage_kind == "postgres"
    messages: list[str] = []
    home = tmp_path / "home"
    prepare_instance(config, home, echo=messages.append)
    text = "\n".join(messages)
    assert "running Dagster storage migrations" in text and "storage migrations done on PostgresRunStorage" in text
    generated = (home / "dagster.yaml").read_text()
    assert postgres["password"] not in generated and "postgresql+psycopg2" in generated
    tables = {r[0] for r in psql(postgres, "select tablename from pg_tables where schemaname = 'public'")}
    assert {"runs", "event_logs", "kvs", "jobs", "job_ticks", "daemon_heartbeats", "alembic_version"} <= tables

    from kestra_dagster.compiler.runner_cli import run_flow_file

    result = run_flow_file(str(FLOWS / "deploy_check.yaml"), {"name": "postgres"})
    assert result["state"] == "SUCCESS", result
    run_id = result["runId"]
    rows = psql(postgres, f"select status, pipeline_name from runs where run_id = '{run_id}'")
    assert rows == [("SUCCESS", "deploy_tests__deploy_check")]
    events = psql(postgres, f"select dagster_event_type from event_logs where run_id = '{run_id}'")
    kinds = {e[0] for e in events}
    assert {"PIPELINE_START", "STEP_SUCCESS", "PIPELINE_SUCCESS"} <= kinds and len(events) > 10
    kv = psql(postgres, "select key, value from kvs where key like 'kestra/kv/deploy.tests/%'")
    assert kv and kv[0][0] == "kestra/kv/deploy.tests/last_greeting" and "postgres" in kv[0][1]

    # A second start finds the schema current and says so.
    messages.clear()
    prepare_instance(config, home, echo=messages.append)
    assert any("storage migrations done" in m for m in messages)


def test_database_down_is_a_clear_error_and_nothing_is_lost(postgres, tmp_path, clean_environ):
    os.environ["TEST_PG_PASSWORD"] = postgres["password"]
    os.environ["KESTRA_CONFIGURATION"] = _config_yaml(postgres)
    config = load_config()
    home = tmp_path / "home"
    prepare_instance(config, home, echo=lambda m: None)
    from kestra_dagster.compiler.runner_cli import run_flow_file

    before = run_flow_file(str(FLOWS / "deploy_check.yaml"), {"name": "before"})
    assert before["state"] == "SUCCESS"
    subprocess.run([str(ROOT / "scripts" / "postgres-stop"), postgres["dir"]], check=True, timeout=60)
    try:
        with pytest.raises(ConfigError, match="storage migrations failed: .*(connect|Operational)"):
            prepare_instance(config, home, echo=lambda m: None, wait_for_database=1)
    finally:
        out = subprocess.run([str(ROOT / "scripts" / "postgres-start"), postgres["dir"], str(postgres["port"])],
                             capture_output=True, text=True, timeout=90)
        assert out.returncode == 0, out.stderr
    after = run_flow_file(str(FLOWS / "deploy_check.yaml"), {"name": "after"})
    assert after["state"] == "SUCCESS"
    statuses = dict(psql(postgres, "select run_id, status from runs"))
    assert statuses[before["runId"]] == "SUCCESS" and statuses[after["runId"]] == "SUCCESS"


def test_deploy_dagster_postgres_yaml_is_the_postgres_form(postgres, tmp_path, clean_environ):
    text = (ROOT / "deploy" / "dagster.postgres.yaml").read_text()
    assert postgres["password"] not in text and "password: {env: DAGSTER_PG_PASSWORD}" in text
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(text)
    os.environ.update({"DAGSTER_HOME": str(home), "DAGSTER_PG_USERNAME": postgres["user"],
                       "DAGSTER_PG_PASSWORD": postgres["password"], "DAGSTER_PG_HOST": "127.0.0.1",
                       "DAGSTER_PG_DB": postgres["db"], "DAGSTER_PG_PORT": str(postgres["port"])})
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        instance.get_runs(limit=1)


def test_root_dagster_yaml_stays_sqlite(tmp_path, clean_environ):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
    assert '"$ROOT/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"' in (ROOT / "scripts" / "dev").read_text()


def test_standalone_on_postgres_as_the_readme_shows(postgres, tmp_path):
    """deploy/README.md's PostgreSQL command: KESTRA_CONFIGURATION + ``server standalone``, run over GraphQL."""
    import signal
    import sys

    from deploy_helpers import free_port, run_over_graphql, wait_for

    config = (f'datasources:\n  postgres: {{url: "jdbc:postgresql://127.0.0.1:{postgres["port"]}/{postgres["db"]}", '
              f'username: {postgres["user"]}, password: "${{PGPASSWORD}}"}}\n'
              "kestra: {repository: {type: postgres}, queue: {type: postgres}}\n")
    env = {**os.environ, "KESTRA_CONFIGURATION": config, "PGPASSWORD": postgres["password"]}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "server.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kestra_dagster.cli", "server", "standalone", "--host", "127.0.0.1", "--port",
             str(port), "--dagster-home", str(tmp_path / "home"), "--flows-dir", str(FLOWS)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        import httpx

        def healthy():
            try:
                return httpx.get(f"{base}/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(healthy, 180), (tmp_path / "server.log").read_text()[-4000:]
        run_id, status = run_over_graphql(base, "deploy_tests__deploy_check", {"name": "standalone-pg"})
        assert status == "SUCCESS"
        assert psql(postgres, f"select status from runs where run_id = '{run_id}'") == [("SUCCESS",)]
        assert psql(postgres, "select count(*) from daemon_heartbeats")[0][0] > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    text = (tmp_path / "server.log").read_text()
    assert "storage migrations done on PostgresRunStorage" in text and postgres["password"] not in text
