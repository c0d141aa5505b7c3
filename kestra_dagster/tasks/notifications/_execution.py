"""The ``*Execution`` notifications: a message about an execution's outcome.

Kestra's ``ExecutionService.executionMap`` reads the execution from its repository. Here the
execution is either the one that fired this flow's Flow trigger (``trigger.executionId``,
``trigger.state``, ``trigger.namespace``, ``trigger.flowId``: the documented way to use these
tasks) or the current one (``execution.*``); any other id is refused with a clear message.
``link`` points at the Dagster UI when ``KESTRA_DAGSTER_UI_URL`` is set.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import KestraModel
from kestra_dagster.tasks.notifications._webhook import render_twice

UI_URL_ENV = "KESTRA_DAGSTER_UI_URL"


def _parse_date(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def human_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs or not (hours or minutes) else ""]
    return "".join(parts)


def execution_info(ctx, execution_id: Any, custom_message: Any = None, custom_fields: Any = None) -> dict[str, Any]:
    """``{id, namespace, flowId, state, startDate, duration, link, customMessage?, customFields?}``."""
    variables = ctx.variables or {}
    wanted = render_twice(ctx, execution_id if execution_id is not None else "{{ execution.id }}", "executionId")
    wanted = str(wanted).strip() if wanted is not None else ""
    trigger = variables.get("trigger") or {}
    current = variables.get("execution") or {}
    flow = variables.get("flow") or {}
    if isinstance(trigger, dict) and wanted and str(trigger.get("executionId", "")) == wanted:
        info = {"id": wanted, "namespace": trigger.get("namespace"), "flowId": trigger.get("flowId"),
                "state": trigger.get("state") or "SUCCESS", "startDate": trigger.get("startDate")}
    elif wanted and wanted in (str(current.get("id", ctx.execution_id)), ctx.execution_id):
        info = {"id": wanted, "namespace": flow.get("namespace", ctx.namespace), "flowId": flow.get("id", ctx.flow_id),
                "state": current.get("state") or "RUNNING", "startDate": current.get("startDate")}
    else:
        raise TaskFailed(
            f"cannot find execution {wanted!r}: executionId must be the current execution or the one that "
            "fired this flow's Flow trigger ({{ trigger.executionId }})"
        )
    started = _parse_date(info["startDate"])
    info["duration"] = human_duration((datetime.now(timezone.utc) - started).total_seconds()) if started else "?"
    base = os.environ.get(UI_URL_ENV, "").rstrip("/")
    info["link"] = f"{base}/runs/{info['id']}" if base else None
    message = ctx.render(custom_message, "customMessage") if custom_message is not None else None
    if message:
        info["customMessage"] = str(message)
    fields = ctx.render(custom_fields, "customFields") if custom_fields is not None else None
    if fields:
        if not isinstance(fields, dict):
            raise TaskFailed("property 'customFields' must be a map")
        info["customFields"] = fields
    return info


def headline(info: dict[str, Any]) -> str:
    return f"[{info['namespace']}] {info['flowId']} ➛ {info['state']}"


def outcome(info: dict[str, Any]) -> str:
    verb = "Failed" if info["state"] in ("FAILED", "KILLED") else "Succeeded" if info["state"] == "SUCCESS" else info["state"].capitalize()
    return f"{verb} after {info['duration']}"


def facts(info: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [("Namespace", str(info["namespace"])), ("Flow", str(info["flowId"])),
            ("Execution", str(info["id"])), ("Status", str(info["state"]))]
    for key, value in (info.get("customFields") or {}).items():
        rows.append((str(key), value if isinstance(value, str) else str(value)))
    return rows


class ExecutionNotification(KestraModel):
    """The properties every ``*Execution`` notification shares (mixed into each service's class)."""

    executionId: str | None = "{{ execution.id }}"
    customMessage: str | None = None
    customFields: dict[str, Any] | str | None = None
    templateUri: str | None = None
    templateRenderMap: dict[str, Any] | None = None

    def execution_info(self, ctx) -> dict[str, Any]:
        return execution_info(ctx, self.executionId, self.customMessage, self.customFields)
