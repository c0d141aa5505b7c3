"""Task logs in Dagster's event log: how lines are prefixed, and reading them back (log.Fetch).

Every task line goes to the run's event log as ``[<task id>[ <values>]] <message>`` (see
``ops._TaskLogger``), so an execution's task logs are the run's user log entries that carry the
prefix. ``DagsterLogFetcher`` is the ``LogFetcher`` the compiler hands to tasks.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone

#: Kestra's levels, lowest first, and the Python level each starts at.
LEVELS = {"TRACE": logging.NOTSET, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
          "WARN": logging.WARNING, "ERROR": logging.ERROR}
_PREFIX = re.compile(r"\[(?P<task>[^\]\s]+)(?: (?P<values>[^\]]*))?\] (?P<message>.*)", re.S)


def task_log_prefix(task_id: str, values: tuple[str, ...]) -> str:
    suffix = f" {'/'.join(values)}" if values else ""
    return f"[{task_id}{suffix}] "


def kestra_level(level: int) -> str:
    if level >= logging.ERROR:
        return "ERROR"
    if level >= logging.WARNING:
        return "WARN"
    if level >= logging.INFO:
        return "INFO"
    return "DEBUG"


class DagsterLogFetcher:
    """Reads an execution's (a Dagster run's) task log lines from the instance's event log."""

    def __init__(self, instance):
        self._instance = instance

    def __call__(self, execution_id: str, namespace: str, flow_id: str, task_ids: list[str],
                 min_level: str) -> list[dict]:
        run = self._instance.get_run_by_id(execution_id)
        if run is None or run.tags.get("kestra/namespace") != namespace or run.tags.get("kestra/flow_id") != flow_id:
            raise LookupError(f"no execution '{execution_id}' of flow '{namespace}.{flow_id}'")
        floor = LEVELS[min_level]
        wanted = set(task_ids)
        entries = []
        for entry in self._instance.all_logs(execution_id):
            if entry.dagster_event is not None or entry.level < floor:
                continue
            match = _PREFIX.fullmatch(entry.user_message or "")
            if match is None or (wanted and match["task"] not in wanted):
                continue
            entries.append({
                "namespace": namespace, "flowId": flow_id, "executionId": execution_id,
                "taskId": match["task"], "value": match["values"],
                "timestamp": datetime.fromtimestamp(entry.timestamp, timezone.utc)
                .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "level": kestra_level(entry.level), "message": match["message"],
            })
        return entries
