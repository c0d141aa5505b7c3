"""``io.kestra.plugin.core.storage.Split``: split a file by ``bytes``, ``partitions`` or ``rows``."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.core.storage._common import new_name, read, render_uri

_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?B?)?\s*$", re.I)
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3, "T": 1024**4, "TB": 1024**4}


def parse_size(text: str) -> int:
    match = _SIZE.match(text or "")
    if not match:
        raise TaskFailed(f"property 'bytes' must be a size such as 10MB or 512KB, got {text!r}")
    return int(match.group(1)) * _UNITS[(match.group(2) or "").upper()]


class Split(RunnableTask):
    """Split the file ``from`` into several files (one of ``bytes``, ``partitions``, ``rows``); output ``uris``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.storage.Split"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.storages.Split",)
    compute_kind: ClassVar[str | None] = "storage"

    from_: str = Field(alias="from")
    bytes: str | int | None = None
    partitions: int | str | None = None
    rows: int | str | None = None
    separator: str = "\n"

    def run(self, ctx) -> dict[str, Any]:
        chosen = [name for name in ("bytes", "partitions", "rows") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise TaskFailed("set exactly one of 'bytes', 'partitions' or 'rows'")
        uri = render_uri(ctx, self.from_, "from")
        data = read(ctx, uri, "from")
        sep = (ctx.render_str(self.separator, prop="separator") or "\n").encode("utf-8")
        lines = data.split(sep)
        if lines and lines[-1] == b"":
            lines.pop()
        ext = "." + uri.rsplit(".", 1)[-1] if "." in uri.rsplit("/", 1)[-1] else ""
        groups: list[list[bytes]] = []
        if self.rows is not None:
            n = int(ctx.render_str(self.rows, prop="rows"))
            if n < 1:
                raise TaskFailed("property 'rows' must be at least 1")
            groups = [lines[i:i + n] for i in range(0, len(lines), n)]
        elif self.partitions is not None:
            n = int(ctx.render_str(self.partitions, prop="partitions"))
            if n < 1:
                raise TaskFailed("property 'partitions' must be at least 1")
            groups = [[] for _ in range(n)]
            for i, line in enumerate(lines):  # Kestra deals rows round-robin
                groups[i % n].append(line)
            groups = [g for g in groups if g]
        else:
            limit = parse_size(ctx.render_str(self.bytes, prop="bytes"))
            current: list[bytes] = []
            size = 0
            for line in lines:
                if current and size + len(line) + len(sep) > limit:
                    groups.append(current)
                    current, size = [], 0
                current.append(line)
                size += len(line) + len(sep)
            if current:
                groups.append(current)
        uris = [ctx.storage.put_bytes(sep.join(group) + sep, new_name(ext)) for group in groups]
        return {"uris": uris}
