"""PostgreSQL stops in the middle of a run, then comes back (a real cluster, daemon, intake, run workers).

What happens, as measured here (and documented in deploy/README.md):

- the run in progress (its worker is a process the daemon's code server started) cannot record
  its next step; it ends FAILURE once PostgreSQL is back: after a short outage the worker reports
  the database error itself, after a long one the worker has exited and the code server marks the
  run failed (that needs ``kestra_dagster.server.code_server_fix``). No process hangs or outlives
  the test: every wait below is bounded;
- a webhook delivery during the outage gets 503 ("could not be stored; retry later") within
  dagster-postgres' connection retries, and nothing is stored for it;
- deliveries acknowledged (200) before the outage are in the database afterwards and each becomes
  exactly one run, which succeeds; the daemon and the intake survive the outage without restart;
  schedule and sensor state are rows there too.
"""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest

from deploy_helpers import ROOT, psql
from kestra_dagster.config import parse_config
from kestra_dagster.testing import LocalDeployment, group_alive, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FLOWS = ROOT / "tests" / "deploy" / "flows_outage"
HOOK = "/api/v1/executions/webhook/deploy.outage/slow/outage-key"


def _pg(action: str, pg: dict) -> float:
    """scripts/postgres-stop (fast shutdown: sessions are cut) or -start on the same port; seconds taken."""
    started = time.monotonic()
    argv = [str(ROOT / "scripts" / f"postgres-{action}"), pg["dir"]] + ([str(pg["port"])] if action == "start" else [])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=90,
                         env={**os.environ, "PG_USER": pg["user"], "PG_PASSWORD": pg["password"], "PG_DB": pg["db"]})
    assert out.returncode == 0, out.stderr
    return time.monotonic() - started


@pytest.fixture()
def deployment(postgres, tmp_path, monkeypatch):
    config = parse_config({"datasources": {"postgres": {
        "url": postgres["url"], "username": postgres["user"], "password": postgres["password"]}}}, env={})
    for name, value in config.process_env().items():
        monkeypatch.setenv(name, value)
    settings = {"storage": config.dagster_instance_settings()["storage"]}
    dep = LocalDeployment(tmp_path, FLOWS, env=config.process_env(), settings=settings)
    try:
        dep.start_daemon()
        dep.url = dep.start_intake()
        yield dep
    finally:
        groups = [p.pid for p in dep.processes.values()]
        dep.close()
    # nothing outlives the deployment: not the daemon's code server, not a run worker
    assert not [g for g in groups if group_alive(g)]


def _run_of(dep, n: int):
    """The run started for delivery ``n`` (the flow logs it first), or None."""
    rows = dep.runs(job_name="deploy_outage__slow")
    return next((r for r in rows if dep.instance.get_run_by_id(r.run_id) and any(
        f"delivery {n} started" in (e.user_message or "") for e in dep.instance.all_logs(r.run_id))), None)


@pytest.mark.parametrize("outage_seconds, first_n, cause", [
    # the run worker outlives the outage and reports its own database error
    (25, 1, ("psycopg2.OperationalError", "Connection refused")),
    # the run worker gives up and exits during the outage: the code server marks the run failed once
    # the database is back (kestra_dagster.server.code_server_fix keeps that check alive meanwhile)
    (60, 101, ("Run execution process for", "unexpectedly exited")),
], ids=["25s", "60s"])
def test_a_run_cut_by_an_outage_fails_and_acknowledged_deliveries_survive(deployment, postgres, outage_seconds,
                                                                          first_n, cause):
    dep = deployment
    from dagster import DagsterRunStatus

    # 1. a run that will be in its Sleep when PostgreSQL stops
    r = httpx.post(dep.url + HOOK, json={"n": first_n, "sleep": "PT3S"}, timeout=30)
    assert r.status_code == 200, r.text
    first = wait_until(lambda: _run_of(dep, first_n), 120, 0.5, what="the run of the first delivery to log its first task")
    assert dep.instance.get_run_by_id(first.run_id).status == DagsterRunStatus.STARTED

    # 2. deliveries acknowledged just before the outage
    acked, later = [], (first_n + 1, first_n + 2, first_n + 3)
    for n in later:
        r = httpx.post(dep.url + HOOK, json={"n": n, "sleep": "PT0S"}, timeout=30)
        assert r.status_code == 200, r.text
        acked.append(r.json()["deliveryId"])

    # 3. the outage: a delivery is refused (not lost silently), within a bounded time
    _pg("stop", postgres)
    down_at = time.monotonic()
    r = httpx.post(dep.url + HOOK, json={"n": first_n + 98, "sleep": "PT0S"}, timeout=60)
    refused_after = time.monotonic() - down_at
    assert r.status_code == 503 and r.json()["message"] == "the delivery could not be stored; retry later"
    assert r.headers["Retry-After"] == "2" and refused_after < 30
    # longer than dagster-postgres' retries (about 6 s of backoff) after the Sleep ends
    time.sleep(max(0.0, outage_seconds - (time.monotonic() - down_at)))
    assert all(p.poll() is None for p in dep.processes.values()), "daemon or intake died during the outage"

    # 4. back: the cut run ends FAILURE with the database error, nothing acknowledged is lost
    _pg("start", postgres)
    back_at = time.monotonic()
    failed = wait_until(lambda: (run := dep.instance.get_run_by_id(first.run_id)).is_finished and run, 120, 1,
                        what="the cut run to end")
    failed_after = time.monotonic() - back_at
    log = "\n".join(f"{e.dagster_event_type}: {e.message} {e.dagster_event.event_specific_data if e.dagster_event else ''}"
                    for e in dep.instance.all_logs(first.run_id))
    assert failed.status == DagsterRunStatus.FAILURE, log[-4000:]
    assert "PIPELINE_FAILURE" in {e.dagster_event_type.value for e in dep.instance.all_logs(first.run_id)
                                  if e.dagster_event_type}
    assert all(c in log for c in cause), log[-4000:]
    from kestra_dagster.triggers.store import DeliveryStore

    store = DeliveryStore(dep.instance)
    assert all(store.get(d) is not None for d in acked), "an acknowledged delivery is gone"
    runs = {n: wait_until(lambda n=n: _run_of(dep, n), 180, 1, what=f"the run of delivery {n}") for n in later}
    for n, run in runs.items():
        done = wait_until(lambda rid=run.run_id: (x := dep.instance.get_run_by_id(rid)).is_finished and x, 120, 1,
                          what=f"run of delivery {n} to end")
        assert done.status == DagsterRunStatus.SUCCESS, n
    assert _run_of(dep, first_n + 98) is None  # the refused delivery never became a run
    # schedules and sensors (their state and ticks) are rows in the same database
    instigators = psql(postgres, "select job_type, job_body from jobs")
    for kind, name in (("SCHEDULE", "deploy_outage__yearly__newyear"), ("SENSOR", "deploy_outage__slow__hook__webhook")):
        assert any(t == kind and f'"{name}"' in body for t, body in instigators), (kind, name, instigators)
    assert psql(postgres, "select count(*) from job_ticks")[0][0] > 0
    per_delivery = {d: [r.run_id for r in dep.runs() if r.tags.get("dagster/run_key", "").endswith(d)] for d in acked}
    assert all(len(ids) == 1 for ids in per_delivery.values()), per_delivery
    print(f"\n{outage_seconds}s outage: delivery refused after {refused_after:.1f}s; cut run FAILURE {failed_after:.1f}s after "
          "PostgreSQL was back; 3/3 acknowledged deliveries became one successful run each")
