"""``fetchType: STORE`` streams rows to internal storage: 1,000,000 rows through the JDBC Query
task, per database, each in its own process so its peak RSS is its own. Prints rows, seconds,
rows/s, the ION file's size, and the process's peak RSS against its RSS before the query (the
difference is what the query held in memory). A script, not a test: it exits 0 whatever the
figures; PostgreSQL runs when its binaries are installed (a throwaway cluster, removed after).

    .venv/bin/python bench/bench_jdbc_store.py [--rows 1000000] [--only sqlite|duckdb|postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQL = {
    "sqlite": "with recursive g(n) as (select 1 union all select n + 1 from g where n < {rows}) "
              "select n as id, 'customer ' || n as name, n * 1.25 as amount, n % 2 = 0 as active from g",
    "duckdb": "select range as id, 'customer ' || range as name, range * 1.25 as amount, range % 2 = 0 as active "
              "from range({rows})",
    "postgresql": "select g as id, 'customer ' || g as name, g * 1.25 as amount, g % 2 = 0 as active "
                  "from generate_series(1, {rows}) g",
}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(engine: str, rows: int, url: str | None, user: str | None, password: str | None) -> None:
    """Run in a subprocess: one STORE query, figures as JSON on stdout."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    from kestra_dagster.engine.context import TaskContext, TaskRunInfo
    from kestra_dagster.engine.storage import LocalStorage
    from kestra_dagster.tasks.jdbc import duckdb, postgresql, sqlite
    from kd_testing import RecordingLogger, simple_render

    cls = {"sqlite": sqlite.Query, "duckdb": duckdb.Query, "postgresql": postgresql.Query}[engine]
    work = Path(tempfile.mkdtemp(prefix="kd-bench-store-"))
    try:
        storage = LocalStorage(work / "storage").for_task("bench", "store", "exec", "q", "run")
        ctx = TaskContext(task_id="q", task_type=cls.kestra_type, variables={}, logger=RecordingLogger(),
                          working_dir=work / "wd", storage=storage, kv=None, namespace="bench", flow_id="store",
                          execution_id="exec", taskrun=TaskRunInfo(id="run", task_id="q", start_date=""),
                          renderer=simple_render)
        props = {"id": "q", "type": cls.kestra_type, "fetchType": "STORE", "sql": SQL[engine].format(rows=rows)}
        if url:
            props.update(url=url, username=user, password=password)
        task = cls.model_validate(props)
        import gc
        import importlib

        importlib.import_module({"sqlite": "sqlite3", "duckdb": "duckdb", "postgresql": "psycopg2"}[engine])
        gc.collect()  # the driver is loaded before the "before" figure: only the query's memory counts
        before = current_rss_mb()
        began = time.perf_counter()
        out = task.run(ctx)
        took = time.perf_counter() - began
        size = ctx.storage.local_path(out["uri"]).stat().st_size
        print(json.dumps({"engine": engine, "rows": out["size"], "seconds": took, "file_mb": size / 1e6,
                          "rss_before_mb": before, "peak_rss_mb": rss_mb()}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=sorted(SQL))
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, rows, url, user, password = args.child
        child(engine, int(rows), url or None, user or None, password or None)
        return
    engines = [args.only] if args.only else list(SQL)
    pg_dir = None
    try:
        for engine in engines:
            url = user = password = ""
            if engine == "postgresql":
                if not (shutil.which("initdb") or Path("/usr/lib/postgresql/15/bin/initdb").exists()):
                    print("postgresql: skipped (PostgreSQL binaries not installed)")
                    continue
                pg_dir = tempfile.mkdtemp(prefix="kd-bench-pg-", dir="/tmp")
                env = {**os.environ, "PG_USER": "bench", "PG_PASSWORD": "bench-pw", "PG_DB": "bench"}
                port = subprocess.run([str(ROOT / "scripts" / "postgres-start"), pg_dir], env=env, check=True,
                                      capture_output=True, text=True, timeout=120).stdout.split()[-1]
                url, user, password = f"jdbc:postgresql://127.0.0.1:{port}/bench", "bench", "bench-pw"
            out = subprocess.run([sys.executable, __file__, "--child", engine, str(args.rows), url, user, password],
                                 capture_output=True, text=True, timeout=1800)
            if out.returncode != 0:
                print(f"{engine}: failed\n{out.stderr[-2000:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{r['engine']:<11} {r['rows']:>9,} rows  {r['seconds']:6.1f} s  {r['rows'] / r['seconds']:>8,.0f} rows/s  "
                  f"ION {r['file_mb']:6.1f} MB  RSS before {r['rss_before_mb']:5.0f} MB, peak {r['peak_rss_mb']:5.0f} MB "
                  f"(+{r['peak_rss_mb'] - r['rss_before_mb']:.0f} MB)")
    finally:
        if pg_dir:
            subprocess.run([str(ROOT / "scripts" / "postgres-stop"), pg_dir, "--rm"], timeout=60, check=False)


if __name__ == "__main__":
    main()
