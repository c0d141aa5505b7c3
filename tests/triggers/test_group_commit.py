"""The group-commit writer on a kept connection: an acknowledged delivery is a committed row.

Each delivery's future resolves only after its batch's transaction commits; the check reads the
row back through a connection of its own (Dagster's ``connect()``, a fresh one each time), at the
moment the future resolves, while later batches are still being written.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import as_completed

import pytest
from dagster import DagsterInstance

from kestra_dagster.compat import sql_run_storage
from kestra_dagster.triggers.store import PENDING, Delivery, DeliveryStore, GroupCommitWriter, StoreUnavailable, deliveries


def _delivery(delivery_id: str) -> Delivery:
    return Delivery(delivery_id=delivery_id, flow_uid="demo.group", trigger_id="hook", status=PENDING,
                    payload={"trigger": {"body": {"id": delivery_id}}}, run_id=None, received_at=time.time())


@pytest.fixture
def instance(tmp_path):
    with DagsterInstance.local_temp(str(tmp_path)) as inst:
        yield inst


def _committed(instance, delivery_id: str) -> bool:
    with sql_run_storage(instance).connect() as conn:  # another connection than the writer's
        return conn.execute(deliveries.select().where(deliveries.c.delivery_id == delivery_id)).fetchone() is not None


def test_every_resolved_delivery_is_already_committed(instance):
    store = DeliveryStore(instance)
    writer = GroupCommitWriter(store)
    try:
        futures = {}
        lock = threading.Lock()

        def client(n: int) -> None:  # 8 clients submitting at once, as concurrent requests do
            for i in range(25):
                future = writer.submit(_delivery(f"c{n}-{i}"))
                with lock:
                    futures[future] = f"c{n}-{i}"

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for future in as_completed(list(futures), timeout=60):
            future.result()
            assert _committed(instance, futures[future])
        assert writer.committed == 200
        assert writer.batches < 200  # deliveries shared commits
        assert store._kept.connects == 1  # and one kept connection
    finally:
        writer.close()
    assert store.count("demo.group", PENDING) == 200


def test_a_failed_batch_is_reported_and_the_next_one_commits(instance):
    store = DeliveryStore(instance)
    writer = GroupCommitWriter(store)
    try:
        writer.submit(_delivery("once")).result(timeout=30)
        with pytest.raises(StoreUnavailable):  # the same id again: the transaction is refused
            writer.submit(_delivery("once")).result(timeout=30)
        writer.submit(_delivery("next")).result(timeout=30)
        assert _committed(instance, "next")
    finally:
        writer.close()
    assert sorted(store.all_ids()) == ["next", "once"]
