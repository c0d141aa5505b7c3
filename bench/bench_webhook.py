"""Benchmark: webhook intake throughput, and webhook → Dagster run latency.

Run from the repository root::

    .venv/bin/python bench/bench_webhook.py                 # 10 s of load, 12 latency samples
    .venv/bin/python bench/bench_webhook.py --quick         # 4 s, 6 samples

1. **Intake throughput**: the intake (``kestra-dagster server webhooks``, one uvicorn process) on
   a fresh SQLite Dagster instance, ``--concurrency`` clients posting small JSON bodies for
   ``--seconds``. Every 200 means the delivery was committed to the instance's database
   (group commit). Prints requests/s, p50/p99 latency and the status counts.
2. **Webhook → run**: the daemon (``python -m kestra_dagster.triggers.daemon``, sensor loop 0.5 s
   unless ``--sensor-loop``,
   DefaultRunCoordinator, threaded sensors) and the intake; one delivery at a time, waiting for
   its run to finish before the next. For each: accepted → run *created* (the sensor requested it;
   Dagster's run record ``create_timestamp``), accepted → run *launched* (the run coordinator
   handed the run to the run launcher: the ``RUN_STARTING`` event Dagster writes in
   ``instance.launch_run`` before calling the launcher, status STARTING) and accepted → run
   *started* (the run worker process began executing: ``RUN_START``, the record's ``start_time``).
   Prints p50/p90/max, and accepted → worker process up (its "Started process for run" event).
   Run workers come from the code server's preloaded fork server (``compiler.run_workers``); run
   with ``KESTRA_RUN_WORKER_START=spawn`` to measure Dagster's own spawn for comparison.

Numbers depend on the machine and on what else runs on it; the script prints the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kestra_dagster.testing import LocalDeployment  # noqa: E402

FLOW = """
id: bench-hook
namespace: bench.webhook
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "{{ trigger.body.n }}"}
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: bench-key}
"""
PATH = "/api/v1/executions/webhook/bench.webhook/bench-hook/bench-key"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def _load(url: str, seconds: float, concurrency: int) -> tuple[list[float], Counter]:
    latencies: list[float] = []
    codes: Counter = Counter()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        async def worker(i: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                started = time.perf_counter()
                r = await client.post(PATH, json={"n": n, "worker": i, "payload": "x" * 200})
                latencies.append(time.perf_counter() - started)
                codes[r.status_code] += 1
                n += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies, codes


def throughput(root: Path, flows: Path, seconds: float, concurrency: int) -> None:
    with LocalDeployment(root / "throughput", flows) as dep:
        url = dep.start_intake()
        started = time.monotonic()
        latencies, codes = asyncio.run(_load(url, seconds, concurrency))
        elapsed = time.monotonic() - started
        ok = codes.get(200, 0)
        from kestra_dagster.triggers.store import DeliveryStore

        stored = DeliveryStore(dep.instance).count()
        # the intake's own access log: time from request to committed answer, without the client's overhead
        server = [float(line.rsplit(" ", 1)[-1][:-2]) for line in dep.log_text("intake").splitlines()
                  if " POST " in line and line.endswith("ms")]
    print(f"intake throughput: {ok / elapsed:.0f} accepted deliveries/s ({ok} in {elapsed:.1f} s, "
          f"{concurrency} concurrent clients); client-side latency p50 {pct(latencies, .5) * 1000:.1f} ms, "
          f"p99 {pct(latencies, .99) * 1000:.1f} ms; server-side p50 {pct(server, .5):.1f} ms, "
          f"p99 {pct(server, .99):.1f} ms; statuses {dict(codes)}; rows stored {stored}")


def run_timestamps(instance, run_id: str) -> dict[str, float]:
    """When the run was launched (``RUN_STARTING``), its worker process was up ("Started process
    for run", written by the worker once Python, dagster and the instance are loaded) and it started
    executing (``RUN_START``), from its event log."""
    from dagster import DagsterEventType

    found: dict[str, float] = {}
    for record in instance.get_records_for_run(run_id, limit=50).records:
        entry = record.event_log_entry
        kind = entry.dagster_event.event_type if entry.dagster_event else None
        if kind == DagsterEventType.RUN_STARTING:
            found.setdefault("launched", entry.timestamp)
        elif kind == DagsterEventType.ENGINE_EVENT and (entry.dagster_event.message or "").startswith("Started process"):
            found.setdefault("worker", entry.timestamp)
        elif kind == DagsterEventType.RUN_START:
            found.setdefault("started", entry.timestamp)
    return found


def _summary(label: str, values: list[float], note: str = "") -> str:
    return (f"{label:<28} p50 {statistics.median(values):5.2f} s, p90 {pct(values, .9):5.2f} s, "
            f"max {max(values):5.2f} s{note}")


def latency(root: Path, flows: Path, samples: int, loop: float) -> None:
    from dagster import RunsFilter

    figures: dict[str, list[float]] = {"created": [], "launched": [], "worker": [], "started": []}
    with LocalDeployment(root / "latency", flows, sensor_loop_seconds=loop) as dep:
        dep.start_daemon()
        url = dep.start_intake()
        # warm up: the first run pays for the code server's start
        r = httpx.post(f"{url}{PATH}", json={"n": -1}, timeout=10)
        dep.wait_for_runs(120, finished=True, tags={"kestra/delivery_id": r.json()["id"]})
        for n in range(samples):
            r = httpx.post(f"{url}{PATH}", json={"n": n}, timeout=10)
            accepted = time.time()
            delivery = r.json()["id"]
            dep.wait_for_runs(120, finished=True, tags={"kestra/delivery_id": delivery})
            (record,) = dep.instance.get_run_records(filters=RunsFilter(tags={"kestra/delivery_id": delivery}))
            stamps = run_timestamps(dep.instance, record.dagster_run.run_id)
            figures["created"].append(record.create_timestamp.timestamp() - accepted)
            for key in ("launched", "worker", "started"):
                figures[key].append(stamps[key] - accepted)
            time.sleep(0.3)
    print(_summary("webhook → run created:", figures["created"], f" ({samples} samples, sensor loop {loop:g} s)"))
    print(_summary("webhook → run launched:", figures["launched"], " (RUN_STARTING: the launcher took the run)"))
    print(_summary("webhook → worker process up:", figures["worker"], " (worker process running, instance opened)"))
    print(_summary("webhook → run started:", figures["started"], " (RUN_START: job loaded, first step next)"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--sensor-loop", type=float, default=0.5,
                        help="the daemon's sensor loop (KESTRA_SENSOR_LOOP_SECONDS; the daemon's default is 1)")
    args = parser.parse_args()
    seconds = args.seconds or (4 if args.quick else 10)
    samples = args.samples or (6 if args.quick else 12)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        root = Path(tmp)
        flows = root / "flows"
        flows.mkdir()
        (flows / "hook.yaml").write_text(FLOW)
        throughput(root, flows, seconds, args.concurrency)
        latency(root, flows, samples, args.sensor_loop)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
