"""The cursor shared by polling triggers (S3, local files): exactly once across daemon restarts.

``seen`` remembers what was already turned into a run (key → version) when the action leaves the
objects in place; ``pending`` holds batches whose run was requested but whose action (MOVE,
DELETE) is not yet done, so a crash between the two repeats the same ``run_key`` rather than
starting a second run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PollCursor:
    seen: dict[str, str] = field(default_factory=dict)
    pending: list[dict[str, Any]] = field(default_factory=list)  # [{"run_key", "objects"|"files": [...]}]

    @classmethod
    def load(cls, raw: str | None) -> "PollCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(seen=dict(data.get("seen") or {}), pending=list(data.get("pending") or []))

    def dump(self) -> str:
        return json.dumps({"seen": self.seen, "pending": self.pending}, sort_keys=True)


@dataclass
class PollResult:
    cursor: PollCursor
    #: (run_key, items) to request; repeated requests for pending batches included.
    requests: list[tuple[str, list[dict[str, Any]]]]
    actions_done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
