"""``io.kestra.plugin.core.storage.Write``: store ``content`` as a file, output its ``uri``."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.core.storage._common import new_name


class Write(RunnableTask):
    """Write ``content`` to a new internal-storage file (``extension`` .ion by default)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.storage.Write"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    compute_kind: ClassVar[str | None] = "storage"

    content: Any
    extension: str | None = ".ion"

    def run(self, ctx) -> dict[str, Any]:
        content = ctx.render(self.content, "content")
        if not isinstance(content, str):
            import json

            content = json.dumps(content)
        ext = ctx.render_str(self.extension, prop="extension") if self.extension is not None else ""
        uri = ctx.storage.put_bytes(content.encode("utf-8"), new_name(ext))
        return {"uri": uri}
