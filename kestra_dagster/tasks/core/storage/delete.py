"""``io.kestra.plugin.core.storage.Delete``: delete an internal-storage file."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.core.storage._common import render_uri


class Delete(RunnableTask):
    """Delete the file at ``uri``; ``deleted`` says whether there was one (``errorOnMissing`` fails instead)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.storage.Delete"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.storages.Delete",)
    compute_kind: ClassVar[str | None] = "storage"

    uri: str
    errorOnMissing: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        uri = render_uri(ctx, self.uri, "uri")
        storage = getattr(ctx.storage, "storage", None)  # TaskStorage → LocalStorage or S3Storage
        if storage is None or not hasattr(storage, "delete"):
            raise TaskFailed("this storage cannot delete files")
        try:
            deleted = storage.delete(uri)
        except Exception as exc:  # noqa: BLE001
            raise TaskFailed(f"cannot delete {uri}: {exc}") from None
        error_on_missing = ctx.render(self.errorOnMissing, "errorOnMissing") if isinstance(self.errorOnMissing, str) else self.errorOnMissing
        if not deleted and str(error_on_missing).strip().lower() == "true":
            raise TaskFailed(f"Unable to find file '{uri}'")
        return {"uri": uri, "deleted": deleted}
