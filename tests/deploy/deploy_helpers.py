"""Helpers shared by the deployment tests (imported as a plain module: tests/ has no packages)."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "tests" / "deploy" / "flows"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have_postgres() -> bool:
    return bool(shutil.which("initdb") or Path("/usr/lib/postgresql/15/bin/initdb").exists())



def psql(pg: dict, sql: str) -> list[tuple]:
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=pg["port"], user=pg["user"], password=pg["password"],
                          dbname=pg["db"], connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall() if cur.description else []


def wait_for(pred, timeout: float, step: float = 0.5):
    """Poll ``pred`` until it returns something truthy or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(step)
    return last


LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


def run_over_graphql(base: str, job: str, inputs: dict, auth=None, timeout: float = 120) -> tuple[str, str | None]:
    """Launch ``job`` of the ``kestra_flows`` location through GraphQL; (run id, final status or None)."""
    import httpx

    params = {"selector": {"repositoryLocationName": "kestra_flows", "repositoryName": "__repository__",
                           "jobName": job}, "runConfigData": {"inputs": inputs}}

    def launch():
        r = httpx.post(base + "/graphql", auth=auth, json={"query": LAUNCH, "variables": {"p": params}}, timeout=60)
        data = r.json()["data"]["launchRun"]
        return data if data["__typename"] == "LaunchRunSuccess" else None

    launched = wait_for(launch, 60, 2)
    assert launched, "launchRun failed"
    run_id = launched["run"]["runId"]

    def status():
        q = {"query": f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ status }} }} }}'}
        s = httpx.post(base + "/graphql", auth=auth, json=q, timeout=30).json()["data"]["runOrError"]["status"]
        return s if s in ("SUCCESS", "FAILURE", "CANCELED") else None

    return run_id, wait_for(status, timeout, 1)
