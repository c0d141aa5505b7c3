"""``io.kestra.plugin.core.storage.Concat``: concatenate files, output the new file's ``uri``."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.core.storage._common import new_name, read, render_uri_list, separator_bytes


class Concat(RunnableTask):
    """Concatenate ``files`` (kestra:// URIs, a list or a JSON list), with an optional ``separator``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.storage.Concat"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.storages.Concat",)
    compute_kind: ClassVar[str | None] = "storage"

    files: list[Any] | str
    separator: str | None = None
    extension: str | None = ".tmp"

    def run(self, ctx) -> dict[str, Any]:
        uris = render_uri_list(ctx, self.files, "files")
        sep = separator_bytes(ctx, self.separator, "separator")
        parts = [read(ctx, uri, "files") for uri in uris]
        ext = ctx.render_str(self.extension, prop="extension") if self.extension is not None else ""
        return {"uri": ctx.storage.put_bytes(sep.join(parts), new_name(ext))}
