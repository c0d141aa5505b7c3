"""What a gate record is, without the database: the statuses and decisions, the record itself,
and the refusal a decision can meet.

Split from ``store.py`` so that compiling a flow with a gate does not import SQLAlchemy (about a
fifth of a second at code-location start); only the ops that read or write records need the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

WAITING, DECIDED, LAUNCHED = "WAITING", "DECIDED", "LAUNCHED"
APPROVED, DENIED, EXPIRED = "APPROVED", "DENIED", "EXPIRED"


class DecisionRefused(Exception):
    """The gate cannot take this decision (already decided, expired, unknown, invalid input)."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


@dataclass
class GateRecord:
    approval_id: str
    execution_id: str
    flow_uid: str
    gate_id: str
    gate_type: str
    part: int
    next_job: str
    part_run_id: str
    status: str
    created_at: float
    spec: dict[str, Any]
    summary: dict[str, Any]
    snapshot: dict[str, Any]
    expires_at: float | None = None
    decision: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    comment: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    auto: bool = False
    next_run_id: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> "GateRecord":
        m = dict(row._mapping)
        for key in ("spec", "summary", "snapshot"):
            m[key] = json.loads(m[key]) if m[key] else {}
        m["inputs"] = json.loads(m["inputs"]) if m["inputs"] else {}
        return cls(**m)

    def row(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("spec", "summary", "snapshot", "inputs"):
            out[key] = json.dumps(out[key], default=str)
        return out

    def public(self) -> dict[str, Any]:
        """What the API and page show (never the execution snapshot)."""
        return {
            "id": self.approval_id, "executionId": self.execution_id, "flow": self.flow_uid, "task": self.gate_id,
            "type": self.gate_type.rsplit(".", 1)[-1], "status": self.status, "decision": self.decision,
            "by": self.decided_by, "on": iso_timestamp(self.decided_at), "comment": self.comment, "inputs": self.inputs,
            "created": iso_timestamp(self.created_at), "due": iso_timestamp(self.expires_at), "auto": self.auto,
            "summary": self.summary, "expects": self.spec.get("inputs", []),
            "commentRequired": self.spec.get("commentRequired", "NEVER"), "decisions": self.spec.get("decisions"),
            "partRunId": self.part_run_id, "nextRunId": self.next_run_id,
        }


def iso_timestamp(ts: float | None) -> str | None:
    """Epoch seconds as ISO-8601 UTC to the second (``…Z``), as the API, page and gate outputs show them."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
