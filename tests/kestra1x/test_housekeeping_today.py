"""Kestra's housekeeping flow as its administrator guide writes it (PurgeExecutions, PurgeLogs,
PurgeKV, a daily Schedule), run by ``kestra-dagster run`` on a persistent instance."""

from __future__ import annotations

from pathlib import Path

from kestra_dagster.compiler.runner_cli import run_flow_file

FLOW = Path(__file__).parent / "flows" / "housekeeping.yaml"


def test_housekeeping_flow_runs_on_a_persistent_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(tmp_path / "storage"))
    first = run_flow_file(str(FLOW), {})
    assert first["state"] == "SUCCESS", first
    # nothing is a month old yet: the first run is kept, no line is purged
    second = run_flow_file(str(FLOW), {})
    assert second["state"] == "SUCCESS", second
    assert second["outputs"]["purge_executions"]["executionsCount"] == 0
    assert second["outputs"]["purge_logs"]["count"] == 0
    assert second["outputs"]["purge_kv"]["size"] == 0

