"""The delivery store and the approval store on a Dagster instance backed by PostgreSQL.

A throwaway cluster from ``scripts/postgres-start`` (PostgreSQL binaries from Debian), stopped
and removed afterwards. Skipped outside CI when PostgreSQL is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from kestra_dagster.approvals.store import APPROVED, EXPIRED, ApprovalStore, DecisionRefused, GateRecord
from kestra_dagster.triggers.store import PENDING, Delivery, DeliveryStore, GroupCommitWriter

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


PG_ENV = {"PG_USER": "kd", "PG_PASSWORD": "pw-triggers", "PG_DB": "kd"}


def _postgres(action: str, workdir: str, *args: str) -> str:
    """scripts/postgres-start|stop on ``workdir``; its output."""
    out = subprocess.run([str(ROOT / "scripts" / f"postgres-{action}"), workdir, *args], env={**os.environ, **PG_ENV},
                         check=True, capture_output=True, text=True, timeout=90)
    return out.stdout


@pytest.fixture(scope="module")
def pg_cluster():
    """A throwaway cluster: ``{"dir", "port"}``."""
    from kd_testing import unavailable

    if not (shutil.which("initdb") or Path("/usr/lib/postgresql/15/bin/initdb").exists()):
        unavailable("PostgreSQL binaries (initdb/pg_ctl) not installed")
    workdir = tempfile.mkdtemp(prefix="kd-pg-triggers-", dir="/tmp")
    try:
        port = int(_postgres("start", workdir).strip().splitlines()[-1])
        yield {"dir": workdir, "port": port}
    finally:
        subprocess.run([str(ROOT / "scripts" / "postgres-stop"), workdir, "--rm"], timeout=60, check=False)


@pytest.fixture(scope="module")
def pg_instance(pg_cluster):
    workdir, port = pg_cluster["dir"], pg_cluster["port"]
    home = Path(workdir) / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(f"""
storage:
  postgres:
    postgres_db:
      username: kd
      password: pw-triggers
      hostname: 127.0.0.1
      db_name: kd
      port: {port}
      scheme: postgresql+psycopg2
telemetry: {{enabled: false}}
""")
    from kestra_dagster.compat import instance_from_dir

    instance = instance_from_dir(str(home))
    try:
        yield instance
    finally:
        instance.dispose()


def test_deliveries_group_committed_and_read_back_on_postgres(pg_instance):
    from kestra_dagster.instance_kv import _sql_run_storage

    assert type(_sql_run_storage(pg_instance)).__name__ == "PostgresRunStorage"
    store = DeliveryStore(pg_instance)
    writer = GroupCommitWriter(store)
    try:
        futures = [writer.submit(Delivery(delivery_id=f"pg-{i}", flow_uid="demo.pg", trigger_id="hook", status=PENDING,
                                          payload={"trigger": {"body": {"n": i}}}, run_id=None,
                                          received_at=time.time())) for i in range(50)]
        for f in futures:
            f.result(timeout=30)
    finally:
        writer.close()
    pending = store.pending("demo.pg", "hook")
    assert [d.delivery_id for d in pending] == [f"pg-{i}" for i in range(50)]
    assert pending[7].payload["trigger"]["body"] == {"n": 7}
    store.mark_launched({"pg-0": "run-0"})
    store.mark_rejected("pg-1", "bad inputs")
    assert store.get("pg-0").run_id == "run-0" and store.get("pg-1").status == "REJECTED"
    assert store.count("demo.pg", PENDING) == 48


def test_a_decision_is_recorded_once_on_postgres(pg_instance):
    store = ApprovalStore(pg_instance)
    now = time.time()

    def gate(approval_id, expires_at=None):
        store.create(GateRecord(approval_id=approval_id, execution_id=f"ex-{approval_id}", flow_uid="demo.pg",
                                gate_id="approval", gate_type="io.kestra.plugin.core.flow.Approval", part=0,
                                next_job="demo_pg__after_approval", part_run_id="run-1", status="WAITING",
                                created_at=now, expires_at=expires_at, spec={}, summary={}, snapshot={"inputs": {}}))

    gate("a1")
    assert store.decide("a1", APPROVED, by="alice").decided_by == "alice"
    with pytest.raises(DecisionRefused, match="already APPROVED by alice"):
        store.decide("a1", APPROVED, by="bob")
    gate("a2", expires_at=now - 1)
    with pytest.raises(DecisionRefused, match="expired"):
        store.decide("a2", APPROVED, by="late")
    assert [r.approval_id for r in store.due_to_expire("demo.pg")] == ["a2"]
    assert store.decide("a2", EXPIRED, by="system").decision == EXPIRED
    assert {r.approval_id for r in store.decided("demo.pg")} == {"a1", "a2"}


def _delivery(delivery_id: str) -> Delivery:
    return Delivery(delivery_id=delivery_id, flow_uid="demo.restart", trigger_id="hook", status=PENDING,
                    payload={"trigger": {"body": {}}}, run_id=None, received_at=time.time())


def test_the_kept_connection_reconnects_after_postgres_restarts(pg_cluster, pg_instance):
    store = DeliveryStore(pg_instance)
    writer = GroupCommitWriter(store)
    try:
        writer.submit(_delivery("before-1")).result(timeout=30)
        writer.submit(_delivery("before-2")).result(timeout=30)
        assert store._kept.connects == 1  # one connection for both batches
        _postgres("stop", pg_cluster["dir"])  # fast shutdown: the kept connection is cut
        _postgres("start", pg_cluster["dir"], str(pg_cluster["port"]))
        # the dead connection is found before anything is written, replaced, and the write goes through
        writer.submit(_delivery("after-1")).result(timeout=60)
        writer.submit(_delivery("after-2")).result(timeout=30)
        assert store._kept.connects == 2
    finally:
        writer.close()
    assert [d.delivery_id for d in store.pending("demo.restart", "hook")] == ["before-1", "before-2", "after-1", "after-2"]
