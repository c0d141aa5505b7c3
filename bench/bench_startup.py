"""Benchmark: fixed start-up costs a user feels, each against plain Dagster, side by side.

Run from the repository root::

    .venv/bin/python bench/bench_startup.py              # 5 interleaved rounds
    .venv/bin/python bench/bench_startup.py --rounds 3

1. **Code location import**: a fresh ``python -c 'import kestra_dagster.definitions'`` over a
   one-flow directory, against a fresh interpreter importing a plain Dagster module with one job
   (``dagster`` + ``Definitions``), what ``dagster api grpc`` pays before serving either. Both
   leave with ``os._exit`` once imported: the interpreter's teardown (a last full garbage
   collection, cheaper for us since the load freezes what it imported) is not part of it.
2. **A CLI run**: ``kestra-dagster run`` of a 10-task flow (process start included), against
   ``dagster job execute`` of a hand-written job of the same 10 ops, both executing their steps
   in one process, on a fresh SQLite ``DAGSTER_HOME``.

Rounds alternate ours/plain so both see the same machine load; prints medians, ratios and the
load average. Our package is byte-compiled first (``compileall``), as a wheel install leaves it and
as Dagster's installed files already are: with ``PYTHONDONTWRITEBYTECODE`` set, an editable
checkout would otherwise be compiled from source at every start.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

FLOW = "id: ten\nnamespace: bench.startup\ntasks:\n" + "".join(
    f"  - {{id: t{i}, type: io.kestra.plugin.core.log.Log, message: 'task {i}'}}\n" for i in range(10))

PLAIN_LOCATION = """
import dagster as dg

@dg.op
def hello(context):
    context.log.info("hi")

@dg.job
def one():
    hello()

defs = dg.Definitions(jobs=[one])
"""

PLAIN_JOB = """
import dagster as dg

def make(i):
    @dg.op(name=f"t{i}", ins={"start": dg.In(dg.Nothing)})
    def step(context):
        context.log.info(f"task {i}")
    return step

ops = [make(i) for i in range(10)]

@dg.job
def ten():
    previous = None
    for op in ops:
        previous = op(start=previous) if previous is not None else op()
"""


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kestra_dagster")], check=True,
                   stdout=subprocess.DEVNULL, timeout=300)
    with tempfile.TemporaryDirectory(prefix="kd-bench-startup-") as tmp:
        root = Path(tmp)
        flows = root / "flows"
        flows.mkdir()
        (flows / "ten.yaml").write_text(FLOW)
        (root / "plain_location.py").write_text(PLAIN_LOCATION)
        (root / "plain_job.py").write_text(PLAIN_JOB)
        # ours runs its steps in one process; so does the plain job (Dagster's default would spawn one per op)
        (root / "in_process.yaml").write_text("execution:\n  config:\n    in_process: {}\n")
        env = {**os.environ, "KESTRA_FLOWS_DIR": str(flows), "DAGSTER_HOME": str(root / "home"),
               "PYTHONPATH": str(root)}
        (root / "home").mkdir()
        python = sys.executable
        cases = {
            "import": (
                # os._exit: the time until the module is ready to serve, not the interpreter's teardown
                [python, "-c", "import os, kestra_dagster.definitions; os._exit(0)"],
                [python, "-c", "import os, plain_location; os._exit(0)"],
            ),
            "run": (
                [str(BIN / "kestra-dagster"), "run", str(flows / "ten.yaml"), "--json"],
                [str(BIN / "dagster"), "job", "execute", "-f", str(root / "plain_job.py"), "-j", "ten",
                 "-c", str(root / "in_process.yaml")],
            ),
        }
        for ours, plain in cases.values():  # warm the file cache
            timed(ours, root, env)
            timed(plain, root, env)
        figures: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in cases}
        for _ in range(args.rounds):
            for name, (ours, plain) in cases.items():
                figures[name][0].append(timed(ours, root, env))
                figures[name][1].append(timed(plain, root, env))
    labels = {"import": ("import kestra_dagster.definitions (1 flow)", "import a plain Dagster module (1 job)"),
              "run": ("kestra-dagster run, 10 tasks", "dagster job execute, 10 ops")}
    for name, (ours, plain) in figures.items():
        a, b = statistics.median(ours), statistics.median(plain)
        print(f"{labels[name][0]:<44} {a:5.2f} s | {labels[name][1]:<40} {b:5.2f} s | ratio {a / b:.2f}")
    print(f"medians of {args.rounds} interleaved rounds; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
