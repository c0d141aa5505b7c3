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
        if storage is None or not hasattr(storage, "execution_prefix"):
            raise TaskFailed("this storage cannot purge execution files")
        prefix = storage.execution_prefix(ctx.namespace, ctx.flow_id, ctx.execution_id)
        folder = storage.base_path.joinpath(*prefix)
        uris = sorted(storage.uri_for(prefix + list(p.relative_to(folder).parts))
                      for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
        storage.delete_execution(ctx.namespace, ctx.flow_id, ctx.execution_id)
        return {"uris": uris}
