"""``io.kestra.plugin.core.storage.Reverse``: reverse the lines of a file."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.core.storage._common import new_name, read, render_uri


class Reverse(RunnableTask):
    """Write the lines of ``from`` in reverse order to a new file; output its ``uri``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.storage.Reverse"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    compute_kind: ClassVar[str | None] = "storage"

    from_: str = Field(alias="from")
    separator: str = "\n"
    charset: str = "UTF-8"

    def run(self, ctx) -> dict[str, Any]:
        uri = render_uri(ctx, self.from_, "from")
        sep = (ctx.render_str(self.separator, prop="separator") or "\n").encode(self.charset)
        lines = read(ctx, uri, "from").split(sep)
        if lines and lines[-1] == b"":
            lines.pop()
        ext = "." + uri.rsplit(".", 1)[-1] if "." in uri.rsplit("/", 1)[-1] else ""
        return {"uri": ctx.storage.put_bytes(sep.join(reversed(lines)) + sep, new_name(ext))}
