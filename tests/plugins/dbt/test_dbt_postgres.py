"""The older dbt tasks (Setup, Build, Test) in a WorkingDirectory, with dbt-postgres against a
PostgreSQL cluster started for the test (scripts/postgres-start), stopped and removed after."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from kd_testing import unavailable
from kestra_dagster.compiler.runner_cli import run_flow_file

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def postgres():
    if not (shutil.which("initdb") or Path("/usr/lib/postgresql/15/bin/initdb").exists()):
        unavailable("PostgreSQL binaries (initdb/pg_ctl) not installed")
    workdir = tempfile.mkdtemp(prefix="kd-pg-dbt-", dir="/tmp")
    env = {**os.environ, "PG_USER": "dbt", "PG_PASSWORD": "dbt-pw-s3cret", "PG_DB": "warehouse"}
    try:
        out = subprocess.run([str(ROOT / "scripts" / "postgres-start"), workdir], env=env, check=True,
                             capture_output=True, text=True, timeout=90)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"postgres-start failed: {exc.stderr}")
    port = int(out.stdout.strip().splitlines()[-1])
    try:
        yield {"port": port, "user": "dbt", "password": "dbt-pw-s3cret", "db": "warehouse", "dir": workdir}
    finally:
        subprocess.run([str(ROOT / "scripts" / "postgres-stop"), workdir, "--rm"], timeout=60, check=False)


def flow(tmp_path, pg, password: str) -> str:
    path = tmp_path / "dbt_pg.yaml"
    path.write_text(f"""
id: dbt_postgres
namespace: company.team
tasks:
  - id: wdir
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: setup
        type: io.kestra.plugin.dbt.cli.Setup
        taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
        requirements: [dbt-postgres]
        profiles:
          jaffle:
            target: dev
            outputs:
              dev:
                type: postgres
                host: 127.0.0.1
                port: {pg['port']}
                user: {pg['user']}
                password: "{password}"
                dbname: {pg['db']}
                schema: analytics
                threads: 2
      - id: build
        type: io.kestra.plugin.dbt.cli.Build
        taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
        namespaceFiles: {{enabled: true}}
        projectDir: dbt
      - id: test
        type: io.kestra.plugin.dbt.cli.Test
        taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
        projectDir: dbt
        select: [customer_totals]
""")
    return str(path)


def psql(pg, sql: str) -> str:
    return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg["port"]), "-U", pg["user"], "-d", pg["db"],
                           "-tAc", sql], env={**os.environ, "PGPASSWORD": pg["password"]},
                          capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def test_setup_build_test_on_postgres(tmp_path, namespace_files, postgres):
    result = run_flow_file(flow(tmp_path, postgres, postgres["password"]), {})
    assert result["state"] == "SUCCESS", result
    build = result["outputs"]["build"]
    assert build["results"]["model.jaffle.customer_totals"]["relation"] == '"warehouse"."analytics"."customer_totals"'
    assert build["results"]["seed.jaffle.raw_orders"]["rowsAffected"] == 4
    tests = result["outputs"]["test"]["results"]
    assert len(tests) == 2 and {r["state"] for r in tests.values()} == {"SUCCESS"}
    assert psql(postgres, "select total from analytics.customer_totals where customer = 'bob'") == "25"


def test_wrong_password_fails_with_the_database_message(tmp_path, namespace_files, postgres, capfd, monkeypatch):
    import base64
    import json

    wrong = "not-the-password-xyz-7781"
    monkeypatch.setenv("SECRET_PG_PASSWORD", base64.b64encode(wrong.encode()).decode())
    result = run_flow_file(flow(tmp_path, postgres, "{{ secret('PG_PASSWORD') }}"), {})
    assert result["state"] == "FAILED"
    assert result["taskStates"]["setup"] == "SUCCESS" and result["taskStates"]["build"] == "FAILED"
    logs = "".join(capfd.readouterr())
    assert "password authentication failed" in logs
    assert wrong not in logs and wrong not in json.dumps(result)
