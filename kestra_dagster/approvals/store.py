"""Gate records in a table (``kestra_approvals``) of the Dagster instance's run-storage database.

A record is created by the part run that reaches a gate (with the execution's state, so the next
part can carry on), decided once (atomically: a second decision, or one after expiry, is refused
with the reason), and marked LAUNCHED once the resume sensor has started the next part.
Statuses: WAITING → DECIDED → LAUNCHED. Decisions: APPROVED, DENIED, EXPIRED.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from kestra_dagster.approvals.records import (  # noqa: F401 - re-exported: the store's vocabulary
    APPROVED,
    DECIDED,
    DENIED,
    EXPIRED,
    LAUNCHED,
    WAITING,
    DecisionRefused,
    GateRecord,
    iso_timestamp,
)
from kestra_dagster.triggers.store import ensure_tables

if TYPE_CHECKING:
    from dagster import DagsterInstance

_metadata = sa.MetaData()
approvals = sa.Table(
    "kestra_approvals",
    _metadata,
    sa.Column("approval_id", sa.String(64), primary_key=True),
    sa.Column("execution_id", sa.String(64), nullable=False, index=True),
    sa.Column("flow_uid", sa.String(255), nullable=False),
    sa.Column("gate_id", sa.String(100), nullable=False),
    sa.Column("gate_type", sa.String(255), nullable=False),
    sa.Column("part", sa.Integer, nullable=False),
    sa.Column("next_job", sa.String(255), nullable=False),
    sa.Column("part_run_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("decision", sa.String(16)),
    sa.Column("decided_by", sa.String(255)),
    sa.Column("decided_at", sa.Float),
    sa.Column("comment", sa.Text),
    sa.Column("inputs", sa.Text),
    sa.Column("auto", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("snapshot", sa.Text, nullable=False),
    sa.Column("next_run_id", sa.String(64)),
)


_STORES: dict[int, "ApprovalStore"] = {}


class ApprovalStore:
    def __init__(self, instance: "DagsterInstance"):
        from kestra_dagster.instance_kv import _sql_run_storage

        self.instance = instance
        self._sql = _sql_run_storage(instance)
        if self._sql is None:
            raise RuntimeError("approval gates need a SQL run storage (SQLite, Postgres or MySQL)")
        ensure_tables(self._sql, _metadata)

    @classmethod
    def for_instance(cls, instance: "DagsterInstance") -> "ApprovalStore":
        """One store per instance in a long-lived process (the sensor ticks every second)."""
        store = _STORES.get(id(instance))
        if store is None or store.instance is not instance:
            store = _STORES[id(instance)] = cls(instance)
        return store

    def create(self, record: GateRecord) -> None:
        with self._sql.connect() as conn:
            conn.execute(approvals.insert().values(**record.row()))

    def get(self, approval_id: str) -> GateRecord | None:
        with self._sql.connect() as conn:
            row = conn.execute(approvals.select().where(approvals.c.approval_id == approval_id)).fetchone()
        return GateRecord.from_row(row) if row else None

    def for_execution(self, execution_id: str) -> list[GateRecord]:
        query = approvals.select().where(approvals.c.execution_id == execution_id).order_by(approvals.c.created_at)
        with self._sql.connect() as conn:
            return [GateRecord.from_row(r) for r in conn.execute(query).fetchall()]

    def waiting_for(self, execution_id: str) -> GateRecord | None:
        """The execution's gate that can be decided now, else its latest one (for the error message)."""
        records = self.for_execution(execution_id)
        waiting = [r for r in records if r.status == WAITING]
        return waiting[-1] if waiting else (records[-1] if records else None)

    def list(self, status: str | None = None, flow_uid: str | None = None, limit: int = 200) -> list[GateRecord]:
        query = approvals.select().order_by(approvals.c.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(approvals.c.status == status)
        if flow_uid is not None:
            query = query.where(approvals.c.flow_uid == flow_uid)
        with self._sql.connect() as conn:
            return [GateRecord.from_row(r) for r in conn.execute(query).fetchall()]

    # ------------------------------------------------------------------ decisions
    def decide(self, approval_id: str, decision: str, by: str, comment: str | None = None,
               inputs: dict[str, Any] | None = None, auto: bool = False, now: float | None = None) -> GateRecord:
        """Record the decision once; raises DecisionRefused with the reason otherwise."""
        now = time.time() if now is None else now
        values = {"status": DECIDED, "decision": decision, "decided_by": by, "decided_at": now, "comment": comment,
                  "inputs": json.dumps(inputs or {}, default=str), "auto": auto}
        query = approvals.update().where(approvals.c.approval_id == approval_id, approvals.c.status == WAITING)
        if decision != EXPIRED:
            query = query.where(sa.or_(approvals.c.expires_at.is_(None), approvals.c.expires_at > now))
        with self._sql.connect() as conn:
            changed = conn.execute(query.values(**values)).rowcount
        record = self.get(approval_id)
        if record is None:
            raise DecisionRefused(f"no gate {approval_id}", status=404)
        if changed != 1:
            raise DecisionRefused(self.refusal(record, now))
        return record

    @staticmethod
    def refusal(record: GateRecord, now: float) -> str:
        if record.status != WAITING:
            if record.decision == EXPIRED:
                return (f"execution {record.execution_id} is no longer waiting at '{record.gate_id}': it expired at "
                        f"{iso_timestamp(record.expires_at)}")
            return (f"execution {record.execution_id} is no longer waiting at '{record.gate_id}': already "
                    f"{record.decision} by {record.decided_by} at {iso_timestamp(record.decided_at)}")
        if record.expires_at is not None and record.expires_at <= now:
            return (f"execution {record.execution_id} is no longer waiting at '{record.gate_id}': it expired at "
                    f"{iso_timestamp(record.expires_at)}")
        return f"the decision on '{record.gate_id}' of execution {record.execution_id} was not recorded"

    def due_to_expire(self, flow_uid: str, now: float | None = None) -> list[GateRecord]:
        now = time.time() if now is None else now
        query = approvals.select().where(approvals.c.flow_uid == flow_uid, approvals.c.status == WAITING,
                                         approvals.c.expires_at.is_not(None), approvals.c.expires_at <= now)
        with self._sql.connect() as conn:
            return [GateRecord.from_row(r) for r in conn.execute(query).fetchall()]

    def decided(self, flow_uid: str) -> list[GateRecord]:
        query = approvals.select().where(approvals.c.flow_uid == flow_uid, approvals.c.status == DECIDED)
        with self._sql.connect() as conn:
            return [GateRecord.from_row(r) for r in conn.execute(query.order_by(approvals.c.decided_at)).fetchall()]

    def mark_launched(self, approval_id: str, run_id: str) -> None:
        with self._sql.connect() as conn:
            conn.execute(approvals.update().where(approvals.c.approval_id == approval_id)
                         .values(status=LAUNCHED, next_run_id=run_id))
