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


@pytest.fixture(scope="module")
def pg_instance():
    from kd_testing import unavailable

    if not (shutil.which("initdb") or Path("/usr/lib/postgresql/15/bin/initdb").exists()):
        unavailable("PostgreSQL binaries (initdb/pg_ctl) not installed")
    workdir = tempfile.mkdtemp(prefix="kd-pg-triggers-", dir="/tmp")
    env = {**os.environ, "PG_USER": "kd", "PG_PASSWORD": "pw-triggers", "PG_DB": "kd"}
    out = subprocess.run([str(ROOT / "scripts" / "postgres-start"), workdir], env=env, check=True,
                         capture_output=True, text=True, timeout=90)
    port = int(out.stdout.strip().splitlines()[-1])
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
        subprocess.run([str(ROOT / "scripts" / "postgres-stop"), workdir, "--rm"], timeout=60, check=False)


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
