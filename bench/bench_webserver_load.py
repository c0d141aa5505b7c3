"""Benchmark: a real ``dagster-webserver`` loading our code location against plain Dagster's.

Run from the repository root::

    .venv/bin/python bench/bench_webserver_load.py                   # 100, 1,000 and 3,000 flows, 2 rounds
    .venv/bin/python bench/bench_webserver_load.py --quick           # 100 and 1,000 flows, 1 round
    .venv/bin/python bench/bench_webserver_load.py --flows 300 --rounds 3

For each size N: N generated flows of 10 tasks (the load benchmark's flows: 5 ``Log``, 5
``Return``, an input, labels) under ``kestra_dagster.definitions``, against a plain Dagster
module of N jobs of 10 chained ops. Each side starts ``dagster-webserver`` on a fresh
``DAGSTER_HOME`` and is timed from process start until GraphQL's ``loadStatus`` is LOADED, then
the resident memory of the webserver and of its code server (its descendants but the run-worker
fork server ours keeps warm, reported apart) is read from ``/proc``, and the node count of one job
through GraphQL. Then the location is reloaded with no file changed (GraphQL
``reloadRepositoryLocation``, timed until LOADED again: a new code server, ours with its parse
and snapshot caches warm). Rounds alternate ours/plain; medians and ratios are printed with the
load average (goals: load <= 1.05x, memory <= 1.1x).
Exits 0 whatever the figures; non-zero only when a server fails to load.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_compile_and_run import write_flows  # noqa: E402

PLAIN_MODULE = '''
import dagster as dg

N_JOBS, N_OPS = {jobs}, {ops}


def _op(name):
    @dg.op(name=name)
    def step(context, previous=None):
        context.log.info(name)
        return name
    return step


def _job(i):
    ops = [_op(f"flow_{{i:04d}}_step_{{t:02d}}") for t in range(N_OPS)]  # op names are unique per repository

    @dg.job(name=f"bench_team{{i % 20:02d}}__flow_{{i:04d}}", tags={{"owner": "bench"}})
    def chain():
        value = ops[0]()
        for op in ops[1:]:
            value = op(value)
    return chain


defs = dg.Definitions(jobs=[_job(i) for i in range(N_JOBS)])
'''

RELOAD = 'mutation ($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) { __typename } }'
STATUS = '{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }'
NODES = ('query ($s: PipelineSelector!) { pipelineOrError(params: $s) { __typename ... on Pipeline { solids { name } } } }')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", method="POST",
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())["data"]


def _tree(pid: int) -> list[int]:
    """``pid`` and every descendant."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(workspace: Path, env: dict, job: str, root: Path, timeout: float) -> dict:
    home = Path(tempfile.mkdtemp(prefix="home-", dir=root))
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\nnux: {enabled: false}\n")
    port = _free_port()
    started = time.perf_counter()
    log = open(root / f"webserver-{port}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "dagster_webserver", "-w", str(workspace), "-h", "127.0.0.1",
                             "-p", str(port)], cwd=workspace.parent, env={**env, "DAGSTER_HOME": str(home)},
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = started + timeout
        while True:
            if proc.poll() is not None or time.perf_counter() > deadline:
                log.flush()
                raise SystemExit(f"{workspace}: the webserver did not load the location:\n"
                                 f"{(root / f'webserver-{port}.log').read_text(errors='replace')[-3000:]}")
            try:
                entry = _graphql(port, STATUS)["workspaceOrError"]["locationEntries"][0]
                if entry["loadStatus"] == "LOADED":
                    if entry["locationOrLoadError"]["__typename"] != "RepositoryLocation":
                        raise SystemExit(f"{workspace}: {entry['locationOrLoadError']}")
                    break
            except (OSError, ValueError, KeyError, IndexError, TypeError):
                pass
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        descendants = _tree(proc.pid)[1:]
        webserver_mb = _rss_mb(proc.pid)
        forks = [pid for pid in descendants if b"forkserver" in _cmdline(pid)]
        code_server_mb = sum(_rss_mb(pid) for pid in descendants if pid not in forks)
        fork_server_mb = sum(_rss_mb(pid) for pid in forks)
        location = entry["name"]
        selector = {"pipelineName": job, "repositoryName": "__repository__", "repositoryLocationName": location}
        solids = _graphql(port, NODES, {"s": selector})["pipelineOrError"]
        nodes = len(solids.get("solids", [])) if solids.get("__typename") == "Pipeline" else -1
        # a reload with no file changed: Dagster starts a new code server and loads it again
        reload_started = time.perf_counter()
        _graphql(port, RELOAD, {"name": location}, timeout=timeout)  # answers once the reload is done
        while True:
            if time.perf_counter() - reload_started > timeout:
                raise SystemExit(f"{workspace}: the reload did not finish in {timeout:.0f} s")
            entry = _graphql(port, STATUS)["workspaceOrError"]["locationEntries"][0]
            if entry["loadStatus"] == "LOADED":
                break
            time.sleep(0.1)
        return {"seconds": seconds, "webserver_mb": webserver_mb, "code_server_mb": code_server_mb,
                "fork_server_mb": fork_server_mb, "total_mb": webserver_mb + code_server_mb, "nodes": nodes,
                "reload_seconds": time.perf_counter() - reload_started}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        log.close()


def bench_size(count: int, rounds: int, root: Path, timeout: float) -> dict[str, list[dict]]:
    size_dir = root / f"n{count}"
    flows = size_dir / "flows"
    write_flows(flows, count, 10)
    (size_dir / "plain_location.py").write_text(PLAIN_MODULE.format(jobs=count, ops=10))
    ours_ws = size_dir / "ours.yaml"
    ours_ws.write_text("load_from:\n  - python_module:\n      module_name: kestra_dagster.definitions\n"
                       "      location_name: kestra_flows\n")
    plain_ws = size_dir / "plain.yaml"
    plain_ws.write_text("load_from:\n  - python_file:\n      relative_path: plain_location.py\n"
                        "      location_name: plain\n")
    env = {**os.environ, "KESTRA_FLOWS_DIR": str(flows), "PYTHONUNBUFFERED": "1"}
    job = "bench_team00__flow_0000"
    samples: dict[str, list[dict]] = {"ours": [], "plain": []}
    for _ in range(rounds):
        samples["ours"].append(measure(ours_ws, env, job, size_dir, timeout))
        samples["plain"].append(measure(plain_ws, env, job, size_dir, timeout))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", default="100,1000,3000", help="comma-separated sizes")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 flows, 1 round")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a server may take to load")
    args = parser.parse_args()
    sizes = [100, 1000] if args.quick else [int(n) for n in args.flows.split(",")]
    rounds = 1 if args.quick else args.rounds
    load_before = os.getloadavg()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kestra_dagster")], check=True,
                   stdout=subprocess.DEVNULL, timeout=300)  # as a wheel install leaves the package
    print(f"{'flows':>6} | {'ours s':>7} {'plain s':>7} {'ratio':>5} | {'ours MB (web+code)':>20} "
          f"{'plain MB (web+code)':>20} {'ratio':>5} | fork server MB | nodes ours/plain | "
          f"reload s ours/plain ratio")
    with tempfile.TemporaryDirectory(prefix="kd-bench-webserver-", dir="/tmp") as tmp:
        for count in sizes:
            samples = bench_size(count, rounds, Path(tmp), args.timeout)
            med = {side: {k: statistics.median(s[k] for s in rows) for k in rows[0]} for side, rows in samples.items()}
            o, p = med["ours"], med["plain"]
            print(f"{count:>6} | {o['seconds']:7.2f} {p['seconds']:7.2f} {o['seconds'] / p['seconds']:5.2f} | "
                  f"{o['total_mb']:8.0f} ({o['webserver_mb']:.0f}+{o['code_server_mb']:.0f}) "
                  f"{p['total_mb']:9.0f} ({p['webserver_mb']:.0f}+{p['code_server_mb']:.0f}) "
                  f"{o['total_mb'] / p['total_mb']:5.2f} | {o['fork_server_mb']:14.0f} | "
                  f"{o['nodes']:.0f}/{p['nodes']:.0f} | {o['reload_seconds']:.2f}/{p['reload_seconds']:.2f} "
                  f"{o['reload_seconds'] / p['reload_seconds']:.2f}", flush=True)
    print(f"medians of {rounds} interleaved round(s), 10 tasks/ops per flow/job; load average "
          f"{' '.join(f'{x:.1f}' for x in load_before)} -> {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
