"""``io.kestra.plugin.core.log.Fetch``: an execution's task logs into an internal-storage file.

The logs come from ``ctx.log_fetcher`` (the compiler reads the Dagster run's event log), one entry
per line in an ``.ion`` file (each line is a JSON object, which is also valid ION text), as
Kestra writes them; ``size`` is the number of entries. The execution defaults to the current one
and must belong to the current flow unless ``namespace``/``flowId`` name another.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")


class Fetch(RunnableTask):
    """Fetch an execution's logs (``tasksId``, from ``level`` up) to an ION file; outputs ``uri``, ``size``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.log.Fetch"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.log.Fetch",)

    executionId: str | None = None
    namespace: str | None = None
    flowId: str | None = None
    tasksId: list[str] | str | None = None
    level: Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] | str = "INFO"

    def run(self, ctx) -> dict[str, Any]:
        if ctx.log_fetcher is None:
            raise TaskFailed("log.Fetch needs the execution log, which this runner does not provide")
        execution_id = (ctx.render_str(self.executionId, prop="executionId") or "").strip() or ctx.execution_id
        namespace = (ctx.render_str(self.namespace, prop="namespace") or "").strip() or ctx.namespace
        flow_id = (ctx.render_str(self.flowId, prop="flowId") or "").strip() or ctx.flow_id
        level = (ctx.render_str(self.level, prop="level") or "").strip().upper()
        if level not in LEVELS:
            raise TaskFailed(f"property 'level' must be one of {', '.join(LEVELS)}, got {level!r}")
        tasks = ctx.render(self.tasksId, prop="tasksId") if self.tasksId is not None else []
        if isinstance(tasks, str):
            tasks = [tasks] if tasks.strip() else []
        try:
            entries = ctx.log_fetcher(execution_id, namespace, flow_id, [str(t) for t in tasks], level)
        except LookupError as exc:
            raise TaskFailed(f"{exc.args[0]}; check 'executionId' (and 'namespace'/'flowId' for another flow)") from None
        lines = "".join(json.dumps(entry, default=str) + "\n" for entry in entries)
        uri = ctx.storage.put_bytes(ctx.mask(lines).encode("utf-8"), f"{ctx.task_id}.ion")
        return {"uri": uri, "size": len(entries)}
