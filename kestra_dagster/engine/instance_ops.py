"""What a task may ask of the orchestrator that runs it: purge stored executions and log lines,
resume a paused execution, switch a trigger on or off.

Kestra's system tasks (``PurgeExecutions``, ``PurgeLogs``, ``execution.Resume``,
``trigger.Toggle``) act on the server's repositories. Here the orchestrator is a Dagster instance;
the engine and the tasks know only this protocol, which the compiler implements on the run's
instance (``compiler/instance_ops.py``). A run without an instance (plain-Python tests) has none,
and such a task fails saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from kestra_dagster.engine.kv import NAMESPACE_PATTERN
from kestra_dagster.errors import TaskFailed


@dataclass(frozen=True)
class ExecutionFilter:
    """Which executions: Kestra's ``namespace`` (a prefix when ``flow_id`` is not set, so
    ``company`` also takes ``company.team``; every namespace when None), ``flow_id``, a start date
    in ``[start, end]``, and ``states``."""

    namespace: str | None = None
    flow_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    states: tuple[str, ...] | None = None

    def namespace_matches(self, namespace: str) -> bool:
        if self.namespace is None:
            return True
        if self.flow_id is not None:
            return namespace == self.namespace
        return namespace == self.namespace or namespace.startswith(self.namespace + ".")

    def started_in_range(self, when: datetime) -> bool:
        return (self.start is None or when >= self.start) and (self.end is None or when <= self.end)


@dataclass
class PurgeResult:
    """What a purge deleted (Kestra's ``PurgeExecutions`` outputs), plus what it left alone."""

    executions: int = 0
    logs: int = 0
    storages: int = 0
    metrics: int = 0
    #: Matching executions left alone: still running, or the purging execution itself.
    skipped: int = 0


class InstanceOperations(Protocol):
    def purge_executions(self, which: ExecutionFilter, *, executions: bool, logs: bool, metrics: bool,
                         storage: bool) -> PurgeResult:
        """Delete the matching finished executions' records, log lines, metrics and stored files."""

    def purge_logs(self, which: ExecutionFilter, *, levels: tuple[str, ...] | None) -> int:
        """Delete the log lines (of ``levels``, else all) logged in ``[start, end]`` by the matching
        flows' executions; returns how many went."""

    def resume(self, *, execution_id: str, namespace: str | None, flow_id: str | None,
               inputs: dict[str, Any] | None, by: str) -> dict[str, Any]:
        """Resume the paused execution; returns ``{id, namespace, flowId, task}`` of the gate resumed."""

    def paused_execution(self, namespace: str, flow_id: str) -> str:
        """The id of the execution of ``namespace.flow_id`` that waits at a gate (the oldest one)."""

    def toggle_trigger(self, namespace: str, flow_id: str, trigger_id: str, enabled: bool) -> list[str]:
        """Start or stop the trigger's Dagster schedules/sensors; returns their names."""


def required(ops: InstanceOperations | None, task_type: str) -> InstanceOperations:
    """The run's instance operations, or a failure that says this task needs an orchestrator."""
    if ops is None:
        raise TaskFailed(f"{task_type.rsplit('.', 1)[-1]} acts on the Dagster instance that runs the flow, "
                         "and this run has none (run the flow through Dagster or `kestra-dagster run`)")
    return ops


def checked_namespace(value: str | None, prop: str) -> str | None:
    """A rendered namespace property: None when the property is not set; an empty or malformed
    rendering fails instead of widening the selection (``"{{ trigger.body.ns }}"`` rendering to
    ``""`` must not mean every namespace)."""
    if value is None:
        return None
    text = value.strip()
    if not NAMESPACE_PATTERN.match(text):
        raise TaskFailed(f"property '{prop}' rendered to {text!r}, which is not a namespace "
                         "(dot-separated words such as company.team); leave the property out to mean every namespace")
    return text


def parse_date(value: Any, prop: str) -> datetime | None:
    """A date property (ISO-8601, as ``now() | dateAdd(…)`` renders it); naive dates are UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip().replace("Z", "+00:00")
        if "[" in text:  # Java's ZonedDateTime: 2024-01-01T10:00+01:00[Europe/Paris]
            text = text.split("[", 1)[0]
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise TaskFailed(f"property '{prop}': {value!r} is not an ISO-8601 date-time "
                             "(e.g. \"{{ now() | dateAdd(-1, 'MONTHS') }}\" or 2024-01-31T00:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
