"""Our ION text reader/writer (kestra_dagster.tasks.core.storage._ion / _ion_writer) against
Amazon's ``amazon-ion`` (``amazon.ion.simpleion``) on the line-per-row files Kestra's JDBC and
serdes tasks produce. Prints rows per second for each direction; the serdes and JDBC tasks keep
whichever is faster (see README). A script, not a test.

    .venv/bin/python bench/bench_ion.py [--rows 50000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from decimal import Decimal

from kestra_dagster.tasks.core.storage._ion import loads
from kestra_dagster.tasks.core.storage._ion_writer import dumps


def rows(n: int):
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(n):
        yield {"id": i, "name": f"customer {i}", "email": f"c{i}@example.com", "amount": Decimal(f"{i % 1000}.25"),
               "ratio": i / 7, "active": i % 2 == 0, "at": start + dt.timedelta(seconds=i), "tags": ["a", "b"],
               "note": None}


def timed(label: str, n: int, fn) -> float:
    began = time.perf_counter()
    fn()
    took = time.perf_counter() - began
    print(f"{label:<34} {n / took:>10,.0f} rows/s  ({took:.2f} s)")
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    n = parser.parse_args().rows
    data = list(rows(n))
    ours = [dumps(r) for r in data]
    timed("write: ours (_ion_writer.dumps)", n, lambda: [dumps(r) for r in data])
    timed("read:  ours (_ion.loads)", n, lambda: [loads(line) for line in ours])
    try:
        from amazon.ion import simpleion
    except ImportError:
        print("amazon-ion is not installed (pip install amazon-ion): nothing to compare")
        return
    c_ext = getattr(simpleion, "c_ext", None)
    print(f"amazon-ion C extension: {'yes' if c_ext else 'no (pure Python)'}")
    timed("write: amazon-ion simpleion.dumps", n, lambda: [simpleion.dumps(r, binary=False) for r in data])
    timed("read:  amazon-ion simpleion.loads", n, lambda: [simpleion.loads(line) for line in ours])


if __name__ == "__main__":
    main()
