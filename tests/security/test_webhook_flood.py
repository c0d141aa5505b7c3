"""A bounded flood through the front door (issue 12, done-when): 2,000 mixed requests (valid,
wrong key, oversize, too deep) from 16 clients on loopback, bounded in count and time.

No acknowledged delivery is lost (every 200's delivery is in the store, and nothing else of the
flood is), each kind gets its answer (wrong key 404, oversize 413, deep 400; valid 200, or 429/503
with Retry-After under pressure), and the memory of the front door and of the intake stays
bounded (peak RSS growth). ``pytest -s`` prints the figures quoted in the README.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from attack_helpers import proc_kb
from kestra_dagster.triggers.store import DeliveryStore

TOTAL, CLIENTS, TIME_LIMIT = 2000, 16, 300.0
GOOD = "/api/v1/executions/webhook/sec.test/hooks/raw-key-456"
WRONG = "/api/v1/executions/webhook/sec.test/hooks/not-the-key"
OVERSIZE = b"x" * (1024 * 1024 + 512 * 1024)  # 1.5 MiB, over the 1 MiB webhook limit
DEEP = ('{"a":' * 900 + "1" + "}" * 900).encode()
ALLOWED = {"valid": {200, 429, 503}, "wrong": {404}, "oversize": {413}, "deep": {400}}


def test_bounded_flood_loses_no_acknowledged_delivery(stack):
    store = DeliveryStore(stack.deployment.instance)
    before_ids = set(store.all_ids())
    pids = {"front": stack.front_pid, "intake": stack.intake_pid}
    base = {name: proc_kb(pid, "VmRSS") for name, pid in pids.items()}
    peak = dict(base)
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            for name, pid in pids.items():
                peak[name] = max(peak[name], proc_kb(pid, "VmRSS"))
            time.sleep(0.05)

    kinds = [("valid", "wrong", "oversize", "deep")[i % 4] for i in range(TOTAL)]
    local = threading.local()
    deadline = time.monotonic() + TIME_LIMIT

    def one(i: int):
        if time.monotonic() > deadline:
            return kinds[i], -1, None
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=stack.front, timeout=60)
        kind = kinds[i]
        try:
            if kind == "valid":
                r = client.post(GOOD, json={"n": i, "flood": True})
            elif kind == "wrong":
                r = client.post(WRONG, json={"n": i})
            elif kind == "oversize":
                r = client.post(GOOD, content=OVERSIZE, headers={"content-type": "application/json"})
            else:
                r = client.post(GOOD, content=DEEP, headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            return kind, 0, repr(exc)
        if r.status_code in (429, 503):
            assert "retry-after" in r.headers
        return kind, r.status_code, r.json().get("id") if r.status_code == 200 else None

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(one, range(TOTAL)))
    elapsed = time.monotonic() - started
    sampling.set()
    watcher.join(5)

    counts = Counter((kind, status) for kind, status, _ in results)
    acknowledged = {extra for kind, status, extra in results if status == 200}
    stored = set(store.all_ids()) - before_ids
    growth = {name: (peak[name] - base[name]) / 1024 for name in pids}
    print(f"\nflood: {TOTAL} requests, {CLIENTS} clients, {elapsed:.1f} s ({TOTAL / elapsed:.0f} req/s); "
          f"answers {dict(sorted(counts.items()))}; acknowledged {len(acknowledged)}, stored {len(stored)}; "
          f"peak RSS growth front {growth['front']:.1f} MB (base {base['front'] / 1024:.0f} MB), "
          f"intake {growth['intake']:.1f} MB (base {base['intake'] / 1024:.0f} MB)")
    assert all(status != -1 for _, status, _ in results), f"the flood did not finish within {TIME_LIMIT:.0f} s"
    bad = {k: n for k, n in counts.items() if k[1] not in ALLOWED[k[0]]}
    assert not bad, bad
    assert acknowledged == stored, "acknowledged and stored deliveries differ"
    assert len(acknowledged) >= 0.9 * TOTAL / 4
    assert growth["front"] <= 64, growth
    assert growth["intake"] <= 128, growth
