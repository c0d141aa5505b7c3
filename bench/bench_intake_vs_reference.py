"""Benchmark: our webhook intake against the floor a user would otherwise write, side by side.

Run from the repository root::

    .venv/bin/python bench/bench_intake_vs_reference.py              # 5 rounds of 2,000 POSTs each
    .venv/bin/python bench/bench_intake_vs_reference.py --rounds 3 --requests 1000

Both servers run on SQLite for the whole run:

- **ours**: ``kestra-dagster server webhooks`` (one uvicorn process) on a fresh Dagster instance;
  a 200 means the delivery is committed (group commit over one kept connection);
- **reference**: Starlette on the same uvicorn, a sync endpoint that inserts the body into SQLite
  with one commit per request (WAL, SQLite's default ``synchronous=FULL``: as with ours, a 200
  means the delivery is on disk; ``--reference-synchronous normal`` gives the reference the
  weaker setting, where a power cut can lose answered deliveries).

The client is a small keep-alive HTTP/1.1 client on raw asyncio streams (no HTTP library between
the clock and the socket), ``--clients`` connections. Rounds alternate ours/reference so both see
the same machine load; the script prints each side's median requests/s and p99, the ratio
ours/reference, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kestra_dagster.testing import LocalDeployment, free_port, wait_until  # noqa: E402

FLOW = """
id: bench-hook
namespace: bench.webhook
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "{{ trigger.body.n }}"}
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: bench-key}
"""
PATH = "/api/v1/executions/webhook/bench.webhook/bench-hook/bench-key"

REFERENCE_APP = """
import json, sqlite3, threading, uuid
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

DB = {db!r}
SYNCHRONOUS = {synchronous!r}
_local = threading.local()
with sqlite3.connect(DB) as c:
    c.execute("pragma journal_mode=wal")
    c.execute("create table if not exists deliveries (id text primary key, path text, body text)")

def _conn():
    if not hasattr(_local, "conn"):
        _local.conn = sqlite3.connect(DB, timeout=30)
        _local.conn.execute(f"pragma synchronous={{SYNCHRONOUS}}")
    return _local.conn

def _store(path, body):
    conn = _conn()
    delivery = uuid.uuid4().hex
    conn.execute("insert into deliveries values (?, ?, ?)", (delivery, path, body))
    conn.commit()
    return delivery

async def hook(request):
    body = (await request.body()).decode()
    json.loads(body)
    from starlette.concurrency import run_in_threadpool
    return JSONResponse({{"id": await run_in_threadpool(_store, request.url.path, body)}})

async def health(request):
    return JSONResponse({{"ok": True}})

app = Starlette(routes=[Route({path!r}, hook, methods=["POST"]), Route("/health", health)])
"""


async def _client(host: str, port: int, count: int, latencies: list[float], statuses: dict[int, int]) -> None:
    """One keep-alive connection posting ``count`` small JSON bodies, one at a time."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for n in range(count):
            body = json.dumps({"n": n, "payload": "x" * 200}).encode()
            request = (f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            length = next(int(v) for k, _, v in (line.partition(":") for line in lines[1:])
                          if k.strip().lower() == "content-length")
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def load(url: str, requests: int, clients: int) -> tuple[float, float, dict[int, int]]:
    """``requests`` POSTs over ``clients`` keep-alive connections: (requests/s, p99 ms, statuses)."""
    host, port = url.rsplit("//", 1)[1].split(":")
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def main() -> None:
        share = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
        await asyncio.gather(*(_client(host, int(port), n, latencies, statuses) for n in share))

    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    return requests / elapsed, sorted(latencies)[int(0.99 * (len(latencies) - 1))] * 1000, statuses


def start_reference(root: Path, synchronous: str) -> tuple[subprocess.Popen, str]:
    app = root / "reference_app.py"
    app.write_text(textwrap.dedent(REFERENCE_APP.format(db=str(root / "reference.sqlite"), path=PATH,
                                                        synchronous=synchronous)))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "reference_app:app", "--host", "127.0.0.1",
                             "--port", str(port), "--no-access-log", "--log-level", "warning"],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_until(up, 30, what="the reference server")
    return proc, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--reference-synchronous", choices=["full", "normal"], default="full")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kd-bench-intake-") as tmp:
        root = Path(tmp)
        flows = root / "flows"
        flows.mkdir()
        (flows / "hook.yaml").write_text(FLOW)
        reference, ref_url = start_reference(root, args.reference_synchronous)
        try:
            with LocalDeployment(root / "ours", flows) as dep:
                ours_url = dep.start_intake()
                load(ours_url, 200, args.clients)  # warm both up
                load(ref_url, 200, args.clients)
                figures: dict[str, list[tuple[float, float]]] = {"ours": [], "reference": []}
                for _ in range(args.rounds):
                    for name, url in (("ours", ours_url), ("reference", ref_url)):
                        rate, p99, statuses = load(url, args.requests, args.clients)
                        assert statuses == {200: args.requests}, (name, statuses)
                        figures[name].append((rate, p99))
        finally:
            reference.terminate()
            try:
                reference.wait(timeout=10)
            except subprocess.TimeoutExpired:
                reference.kill()
                reference.wait(timeout=10)
    medians = {name: (statistics.median(r for r, _ in rows), statistics.median(p for _, p in rows))
               for name, rows in figures.items()}
    for name, (rate, p99) in medians.items():
        print(f"{name:<10} {rate:7.0f} requests/s (median of {args.rounds}), p99 {p99:5.1f} ms")
    print(f"ratio ours/reference: {medians['ours'][0] / medians['reference'][0]:.2f} "
          f"({args.requests} POSTs x {args.clients} keep-alive clients per round, SQLite, reference "
          f"synchronous={args.reference_synchronous}; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
