"""Benchmark: reloading a code location whose flow files did not change, against a cold load.

Run from the repository root::

    .venv/bin/python bench/bench_reload.py               # 1,000 flows x 10 tasks, 3 interleaved rounds
    .venv/bin/python bench/bench_reload.py --flows 200 --rounds 2

Dagster reloads a code location by starting a new code-server process, so each load here is a
fresh process running what the code location module runs (``build_repository`` over the flows
directory), then what the code server does before answering the webserver:
``load_all_definitions`` (every job built, unless the snapshots are stored), the repository
snapshot (``RepositorySnap.from_def(defer_snapshots=True)``) and then every job's full snapshot,
as the code server answers them (``compiler.snapshot_cache``). The webserver's own work on them
is measured by ``bench_webserver_load.py`` (its reload column). *cold*: a DAGSTER_HOME whose caches are empty;
*reload*: the same files with the caches left by the previous load (parsed flows,
``model/parse_cache.py``; the snapshots, ``compiler/snapshot_cache.py``). Rounds
alternate cold/reload; medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_compile_and_run import write_flows  # noqa: E402

def load(flows: Path, home: Path) -> dict:
    script = f"""
import json, time
from kestra_dagster.compiler import definitions, snapshot_cache
from kestra_dagster.model.parse_cache import ParseCache
cache = ParseCache.for_instance_home()
original = definitions.load_catalog
definitions.load_catalog = lambda paths, translator=None, parse_cache=None: original(paths, translator, cache)
t0 = time.perf_counter()
repo = definitions.build_repository([{str(flows)!r}])
catalog_s = time.perf_counter() - t0
repo.load_all_definitions()  # what a code server does as it loads
snapshot_cache.repository_snapshot(repo, defer_snapshots=True)  # what the webserver asks first,
for name in repo.job_names:  # then every job's full snapshot
    snapshot_cache.job_snapshot(repo, name)
print(json.dumps({{"catalog_s": catalog_s, "total_s": time.perf_counter() - t0, "hits": cache.hits, "misses": cache.misses}}))
"""
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "DAGSTER_HOME": str(home)},
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"load failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kd-bench-reload-") as tmp:
        root = Path(tmp)
        flows = root / "flows"
        write_flows(flows, args.flows, args.tasks)
        warm_home = root / "warm"
        warm_home.mkdir()
        load(flows, warm_home)  # fills the cache the reloads use
        samples: dict[str, list[dict]] = {"cold": [], "reload": []}
        for i in range(args.rounds):
            cold_home = root / f"cold{i}"
            cold_home.mkdir()
            samples["cold"].append(load(flows, cold_home))
            shutil.rmtree(cold_home)
            samples["reload"].append(load(flows, warm_home))
    assert all(s["misses"] == 0 for s in samples["reload"]), samples["reload"]
    med = {k: {m: statistics.median(s[m] for s in v) for m in ("catalog_s", "total_s")} for k, v in samples.items()}
    print(f"{args.flows} flows x {args.tasks} tasks, median of {args.rounds} fresh processes each")
    print(f"{'':10} {'parse + plan':>14} {'to snapshots':>14}")
    for kind in ("cold", "reload"):
        print(f"{kind:10} {med[kind]['catalog_s']:13.2f}s {med[kind]['total_s']:13.2f}s")
    print(f"reload / cold: parse + plan {med['reload']['catalog_s'] / med['cold']['catalog_s']:.2f}, "
          f"whole load {med['reload']['total_s'] / med['cold']['total_s']:.2f} "
          f"(load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
