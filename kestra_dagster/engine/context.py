"""What a running task sees: rendering, logs, files, the KV store, cancellation.

This is the whole contract between task implementations and the engine. It has no Dagster
import: the compiler supplies the Dagster-backed pieces (logger, KV backend, subflow launcher)
through the small protocols below, so every task can be tested with plain Python too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from kestra_dagster.errors import ExpressionError, TaskKilled


#: Reserved output key: a task lists audit records here ({assetKey, metadata, description}) and
#: the compiler records them as Dagster asset materializations (tasks never import Dagster).
ASSET_EVENTS_KEY = "__dagster_asset_materializations__"

#: Reserved output key: ``{task_id: outputs}`` a task publishes for the sub-task runs Kestra shows
#: beside it (ForEachItem's ``<id>_split``/``<id>_items``/``<id>_merge``); the runner files them.
SUB_TASK_OUTPUTS_KEY = "__kestra_sub_task_outputs__"

#: Secrets shorter than this are not masked: masking "a" or "1" would garble every log line.
MIN_MASKED_SECRET_LENGTH = 3


def mask_secrets(text: str, secrets) -> str:
    """Replace every revealed secret value in ``text`` with ``******`` (longest first)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= MIN_MASKED_SECRET_LENGTH:
            text = text.replace(secret, "******")
    return text


class TaskLogger(Protocol):
    def debug(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


class KVBackend(Protocol):
    """Namespace-scoped key/value store; the compiler backs it with the Dagster instance DB."""

    def get(self, namespace: str, key: str) -> Any | None: ...
    def set(self, namespace: str, key: str, value: Any, ttl_seconds: float | None = None) -> None: ...
    def delete(self, namespace: str, key: str) -> bool: ...
    def keys(self, namespace: str) -> list[str]: ...
    def namespaces(self) -> list[str]: ...
    def purge(self, namespace: str, *, expired_only: bool,
              key_filter: Callable[[str], bool] | None = None) -> int: ...


class LogFetcher(Protocol):
    """Reads back an execution's task logs (log.Fetch); the compiler reads Dagster's event log.

    Returns Kestra-like log entries (``taskId``, ``level``, ``message``, ``timestamp``…) at
    ``min_level`` or above, of the tasks in ``task_ids`` (all tasks when empty), oldest first.
    Raises ``LookupError`` when no such execution exists for ``namespace``/``flow_id``.
    """

    def __call__(self, execution_id: str, namespace: str, flow_id: str, task_ids: list[str],
                 min_level: str) -> list[dict]: ...


@dataclass
class TaskRunInfo:
    """Kestra's ``taskrun`` variable for one attempt of one task."""

    id: str
    task_id: str
    start_date: str
    attempts_count: int = 1
    value: str | None = None  # ForEach value (always a string, as in Kestra)
    iteration: int | None = None
    parent_id: str | None = None

    def as_variable(self) -> dict:
        out = {"id": self.id, "startDate": self.start_date, "attemptsCount": self.attempts_count}
        if self.value is not None:
            out["value"] = self.value
        if self.iteration is not None:
            out["iteration"] = self.iteration
        if self.parent_id is not None:
            out["parentId"] = self.parent_id
        return out


def _metric_number(kind: str, value: Any) -> float | None:
    """A sample as a number; a timer may be an ISO-8601 duration (``PT1.5S``): seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            if kind == "timer":
                from kestra_dagster.model.common import parse_duration

                try:
                    return parse_duration(value).total_seconds()
                except ValueError:
                    return None
    return None


def merge_metric(metrics: list[dict[str, Any]], name: str, kind: str, value: Any, tags: dict | None = None) -> None:
    """Fold one sample into ``metrics`` (one entry per name, type and tags)."""
    kind = (kind or "counter").lower()
    number = _metric_number(kind, value)
    if number is None or not name:
        return
    tags = {str(k): str(v) for k, v in (tags or {}).items()}
    for entry in metrics:
        if entry["name"] == name and entry["type"] == kind and entry["tags"] == tags:
            entry["value"] = number if kind == "gauge" else entry["value"] + number
            entry["count"] += 1
            return
    metrics.append({"name": str(name), "type": kind, "value": number, "count": 1, "tags": tags})


def fold_metrics(into: list[dict[str, Any]], entries: list[dict[str, Any]]) -> None:
    """Add aggregated ``entries`` (another attempt's) to ``into``: sums and counts add up."""
    for m in entries:
        same = next((e for e in into if (e["name"], e["type"], e["tags"]) == (m["name"], m["type"], m["tags"])), None)
        if same is None:
            into.append(dict(m))
        else:
            same["value"] = m["value"] if m["type"] == "gauge" else same["value"] + m["value"]
            same["count"] += m["count"]


@dataclass
class TaskContext:
    """Handed to ``RunnableTask.run(ctx)``.

    ``variables`` is the full Pebble context (flow, execution, inputs, outputs, vars, taskrun…).
    ``render`` turns any property value (str, list, dict, nested) into its rendered form.
    Tasks return their outputs as a dict; they fail by raising ``TaskFailed``.
    """

    task_id: str
    task_type: str
    variables: dict
    logger: TaskLogger
    working_dir: Path
    storage: "InternalStorage"
    kv: KVBackend
    namespace: str
    flow_id: str
    execution_id: str
    taskrun: TaskRunInfo
    renderer: Callable[[Any, dict], Any]
    cancel_event: threading.Event = field(default_factory=threading.Event)
    #: Set by the compiler: runs a subflow and returns {"executionId", "state", "outputs"}.
    subflow_launcher: Callable[..., dict] | None = None
    #: Set by the compiler: an execution's task log entries (see ``LogFetcher``).
    log_fetcher: "LogFetcher | None" = None
    #: Set by the compiler: the orchestrator's instance, for system tasks (``engine.instance_ops``).
    instance_ops: Any = None
    #: Secrets to mask in anything the task logs or returns as an error message.
    secret_values: set[str] = field(default_factory=set)
    _secret_outputs: set[str] = field(default_factory=set)
    _warnings: list[str] = field(default_factory=list)
    _labels: dict[str, str] = field(default_factory=dict)
    #: Metrics the task emitted (Kestra's ``::{"metrics": […]}::`` lines), aggregated per name and
    #: tags: counters summed, timers in seconds (total and count), gauges the last value.
    metrics: list[dict[str, Any]] = field(default_factory=list)

    # ----------------------------------------------------------- rendering
    def render(self, value: Any, prop: str = "", extra: dict | None = None) -> Any:
        """Render expressions inside ``value``; errors name this task and ``prop``."""
        variables = self.variables if not extra else {**self.variables, **extra}
        try:
            return self.renderer(value, variables)
        except ExpressionError as exc:
            raise exc.located(task=self.task_id, prop=prop) from None

    def render_str(self, value: Any, prop: str = "") -> str | None:
        if value is None:
            return None
        out = self.render(value, prop)
        return out if isinstance(out, str) else str(out)

    def render_bool(self, value: Any, prop: str = "") -> bool:
        """A boolean property that may be an expression: true/false, 1/0, yes/no (Kestra's parse)."""
        rendered = self.render(value, prop) if isinstance(value, str) else value
        if isinstance(rendered, bool):
            return rendered
        text = str(rendered).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no", "", "none"):
            return False
        from kestra_dagster.errors import TaskFailed

        raise TaskFailed(f"property '{prop}' must be true or false, got {rendered!r}")

    # ----------------------------------------------------------- state
    def warn(self, reason: str) -> None:
        """End this task WARNING instead of SUCCESS (e.g. stderr output with warningOnStdErr)."""
        self._warnings.append(reason)
        self.logger.warning(reason)

    def set_labels(self, labels: dict[str, str]) -> None:
        self._labels.update(labels)

    def record_metric(self, name: str, kind: str, value: Any, tags: dict | None = None) -> None:
        """Add one metric sample (``kind`` counter | timer | gauge); see ``metrics``."""
        merge_metric(self.metrics, name, kind, value, tags)

    def check_cancelled(self) -> None:
        """Raise TaskKilled when the timeout elapsed or the run is being terminated."""
        if self.cancel_event.is_set():
            raise TaskKilled(f"task '{self.task_id}' was stopped")

    def sleep(self, seconds: float) -> None:
        """Interruptible sleep: returns early (raising TaskKilled) when cancelled."""
        if self.cancel_event.wait(max(0.0, seconds)):
            raise TaskKilled(f"task '{self.task_id}' was stopped while sleeping")

    def mask(self, text: str) -> str:
        return mask_secrets(text, self.secret_values)

    def secret_output(self, value: str) -> str:
        """Mark an output value as secret (a short-lived token): masked here and in every later op.

        Kestra encrypts such outputs (``EncryptedString``); here they stay usable in expressions
        (``{{ outputs.auth.token }}``) but never show in logs, output metadata or error messages.
        """
        if value:
            self.secret_values.add(value)
            self._secret_outputs.add(value)
        return value


class InternalStorage(Protocol):
    """Execution files addressed by ``kestra:///…`` URIs (see engine.storage)."""

    def put_file(self, local_path: Path, name: str | None = None) -> str: ...
    def put_bytes(self, data: bytes, name: str) -> str: ...
    def local_path(self, uri: str) -> Path: ...
    def read_bytes(self, uri: str) -> bytes: ...
