"""Benchmark: our webhook intake against the floor a user would otherwise write, side by side.

Run from the repository root::

    .venv/bin/python bench/bench_intake_vs_reference.py              # SQLite then PostgreSQL, 5 rounds of 2,000 POSTs
    .venv/bin/python bench/bench_intake_vs_reference.py --rounds 3 --requests 1000 --backend sqlite

Each backend is measured on its own, both servers on the same database engine:

- **ours**: ``kestra-dagster server webhooks`` (one uvicorn process) on a fresh Dagster instance;
  a 200 means the delivery is committed (group commit over one kept connection);
- **reference, SQLite**: Starlette on the same uvicorn, a sync endpoint that inserts the body
  with one commit per request (WAL, SQLite's default ``synchronous=FULL``: as with ours, a 200
  means the delivery is on disk; ``--reference-synchronous normal`` gives the reference the
  weaker setting, where a power cut can lose answered deliveries);
- **reference, PostgreSQL**: the same endpoint on psycopg2, one connection per worker thread and
  one commit per request; ours uses dagster-postgres storage on the same throwaway cluster
  (``scripts/postgres-start`` with ``PG_FSYNC=on``: a durable cluster, ``synchronous_commit`` on).

The client is a small keep-alive HTTP/1.1 client on raw asyncio streams (no HTTP library between
the clock and the socket), ``--clients`` connections. Rounds alternate ours/reference so both see
the same machine load; the script prints each side's median requests/s and p99, the ratio
ours/reference, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_webhook import FLOW, PATH  # noqa: E402 - the same webhook flow as the latency bench
from kestra_dagster.testing import LocalDeployment, free_port, wait_until  # noqa: E402

REFERENCE_SQLITE = """
import sqlite3, threading
DB = {db!r}
SYNCHRONOUS = {synchronous!r}
PARAM = "?"
_local = threading.local()
with sqlite3.connect(DB) as c:
    c.execute("pragma journal_mode=wal")
    c.execute("create table if not exists deliveries (id text primary key, path text, body text)")

def _conn():
    if not hasattr(_local, "conn"):
        _local.conn = sqlite3.connect(DB, timeout=30)
        _local.conn.execute(f"pragma synchronous={{SYNCHRONOUS}}")
    return _local.conn
"""

REFERENCE_POSTGRES = """
import threading
import psycopg2
DSN = {dsn!r}
PARAM = "%s"
_local = threading.local()
with psycopg2.connect(DSN) as c, c.cursor() as cur:
    cur.execute("create table if not exists deliveries (id text primary key, path text, body text)")

def _conn():
    if not hasattr(_local, "conn"):
        _local.conn = psycopg2.connect(DSN)
    return _local.conn
"""

REFERENCE_APP = """
import json, uuid
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
{store}

def _store(path, body):
    conn = _conn()
    delivery = uuid.uuid4().hex
    cur = conn.cursor()
    cur.execute(f"insert into deliveries values ({{PARAM}}, {{PARAM}}, {{PARAM}})", (delivery, path, body))
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


def start_reference(root: Path, store: str) -> tuple[subprocess.Popen, str]:
    app = root / "reference_app.py"
    app.write_text(textwrap.dedent(REFERENCE_APP.format(store=textwrap.dedent(store), path=PATH)))
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


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextlib.contextmanager
def postgres_cluster():
    """A durable throwaway cluster (``scripts/postgres-start`` with ``PG_FSYNC=on``): (port, user, password, db)."""
    env = {**os.environ, "PG_USER": "bench", "PG_PASSWORD": "bench-pw", "PG_DB": "bench", "PG_FSYNC": "on"}
    workdir = tempfile.mkdtemp(prefix="kd-bench-pg-", dir="/tmp")
    try:
        out = subprocess.run([str(ROOT / "scripts" / "postgres-start"), workdir], env=env, check=True,
                             capture_output=True, text=True, timeout=120)
        yield int(out.stdout.strip().splitlines()[-1]), "bench", "bench-pw", "bench"
    finally:
        subprocess.run([str(ROOT / "scripts" / "postgres-stop"), workdir, "--rm"], timeout=60, check=False,
                       capture_output=True)


def measure(backend: str, root: Path, args) -> dict[str, tuple[float, float]]:
    """Interleaved rounds on one backend: {side: (median requests/s, median p99 ms)}."""
    flows = root / "flows"
    flows.mkdir()
    (flows / "hook.yaml").write_text(FLOW)
    with contextlib.ExitStack() as stack:
        settings = None
        if backend == "postgres":
            port, user, password, db = stack.enter_context(postgres_cluster())
            settings = {"storage": {"postgres": {"postgres_db": {
                "username": user, "password": password, "hostname": "127.0.0.1", "db_name": db, "port": port,
                "scheme": "postgresql+psycopg2"}}}}
            store = REFERENCE_POSTGRES.format(dsn=f"host=127.0.0.1 port={port} user={user} password={password} dbname={db}")
        else:
            store = REFERENCE_SQLITE.format(db=str(root / "reference.sqlite"), synchronous=args.reference_synchronous)
        reference, ref_url = start_reference(root, store)
        stack.callback(stop, reference)
        dep = stack.enter_context(LocalDeployment(root / "ours", flows, settings=settings))
        # no daemon here, so deliveries stay pending: lift the per-flow backlog limit above what the run stores
        ours_url = dep.start_intake(extra_args=["--max-pending", str(10 * (args.rounds + 1) * args.requests)])
        load(ours_url, 200, args.clients)  # warm both up
        load(ref_url, 200, args.clients)
        figures: dict[str, list[tuple[float, float]]] = {"ours": [], "reference": []}
        for _ in range(args.rounds):
            for name, url in (("ours", ours_url), ("reference", ref_url)):
                rate, p99, statuses = load(url, args.requests, args.clients)
                assert statuses == {200: args.requests}, (backend, name, statuses)
                figures[name].append((rate, p99))
    return {name: (statistics.median(r for r, _ in rows), statistics.median(p for _, p in rows))
            for name, rows in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--reference-synchronous", choices=["full", "normal"], default="full")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix=f"kd-bench-intake-{backend}-") as tmp:
            medians = measure(backend, Path(tmp), args)
        print(f"[{backend}]")
        for name, (rate, p99) in medians.items():
            print(f"  {name:<10} {rate:7.0f} requests/s (median of {args.rounds}), p99 {p99:5.1f} ms")
        detail = f"synchronous={args.reference_synchronous}" if backend == "sqlite" else "durable cluster"
        print(f"  ratio ours/reference: {medians['ours'][0] / medians['reference'][0]:.2f} "
              f"({args.requests} POSTs x {args.clients} keep-alive clients per round, {backend}, {detail}; "
              f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
