"""``io.kestra.plugin.core.storage.Size``: the size in bytes of an internal-storage file."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.core.storage._common import render_uri


class Size(RunnableTask):
    """Output the ``size`` (bytes) of the file at ``uri``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.storage.Size"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.storages.Size",)
    compute_kind: ClassVar[str | None] = "storage"

    uri: str

    def run(self, ctx) -> dict[str, Any]:
        uri = render_uri(ctx, self.uri, "uri")
        try:
            return {"size": ctx.storage.local_path(uri).stat().st_size}
        except Exception as exc:  # noqa: BLE001
            raise TaskFailed(f"property 'uri': cannot read {uri}: {exc}") from None
