"""``io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles``: delete this execution's stored files."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask


class PurgeCurrentExecutionFiles(RunnableTask):
    """Delete every internal-storage file of the current execution; output the deleted ``uris``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    compute_kind: ClassVar[str | None] = "storage"

    def run(self, ctx) -> dict[str, Any]:
        storage = getattr(ctx.storage, "storage", None)
        if storage is None or not hasattr(storage, "delete_execution"):
            raise TaskFailed("this storage cannot purge execution files")
        return {"uris": storage.delete_execution(ctx.namespace, ctx.flow_id, ctx.execution_id)}
