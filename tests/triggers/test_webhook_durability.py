"""SIGKILL the intake under load, and the daemon while it works through the backlog:
no acknowledged delivery is lost and none yields two runs.

Runs are created but never started (QueuedRunCoordinator with 0 concurrent runs), so the test
measures delivery → run creation, which is where duplicates or losses would happen.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest
from dagster import RunsFilter

from kestra_dagster.triggers.store import DeliveryStore
from kestra_dagster.testing import LocalDeployment, wait_until

pytestmark = pytest.mark.slow

FLOW = """
id: ingest
namespace: demo.load
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "{{ trigger.body.n }}"}
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: load-key}
"""


def _hammer(url: str, acked: list[str], errors: list[str], stop: threading.Event, per_thread: int) -> None:
    with httpx.Client(timeout=5) as client:
        for n in range(per_thread):
            if stop.is_set():
                return
            try:
                r = client.post(f"{url}/api/v1/executions/webhook/demo.load/ingest/load-key", json={"n": n})
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                return  # the intake is gone
            if r.status_code == 200:
                acked.append(r.json()["id"])
            else:
                errors.append(str(r.status_code))


def test_sigkill_intake_and_daemon_lose_nothing_and_duplicate_nothing(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "ingest.yaml").write_text(FLOW)
    with LocalDeployment(tmp_path, flows, queued_runs_only=True) as dep:
        url = dep.start_intake()
        dep.start_daemon()
        acked: list[str] = []
        errors: list[str] = []
        stop = threading.Event()
        threads = [threading.Thread(target=_hammer, args=(url, acked, errors, stop, 60)) for _ in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: len(acked) >= 30, 60, interval=0.02, what="load on the intake")
        dep.kill("intake")  # SIGKILL mid-load: requests in flight are cut off
        stop.set()
        for t in threads:
            t.join(10)
        assert errors, "the kill should have cut some requests off"
        first_wave = len(acked)

        url = dep.start_intake()  # back, on the same store
        _hammer(url, acked, errors, threading.Event(), 15)
        dep.kill("daemon")  # SIGKILL while it turns the backlog into runs
        time.sleep(1)
        dep.start_daemon()

        store = DeliveryStore(dep.instance)
        assert set(acked) <= set(store.all_ids())  # durable before acknowledged

        def runs_by_delivery():
            runs = dep.instance.get_runs(filters=RunsFilter(job_name="demo_load__ingest"))
            return Counter(r.tags.get("kestra/delivery_id") for r in runs)

        wait_until(lambda: set(acked) <= set(runs_by_delivery()), 120, interval=1, what="a run for every delivery")
        time.sleep(3)  # a few more sensor ticks must not add runs
        counts = runs_by_delivery()
        stored = store.all_ids()
        assert not [d for d, c in counts.items() if c > 1], "a delivery produced two runs"
        assert set(counts) == set(stored)  # every stored delivery (acked or not) has its run, nothing else
        assert len(acked) > first_wave >= 30
