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


def split_lines(ctx, data: bytes, sep: bytes, rows: Any = None, partitions: Any = None,
                bytes_: Any = None) -> list[list[bytes]]:
    """Kestra's split of a file's lines: ``rows`` per group, ``partitions`` groups (round-robin)
    or groups of at most ``bytes_``; exactly one must be set. Shared by Split and ForEachItem."""
    chosen = [name for name, value in (("bytes", bytes_), ("partitions", partitions), ("rows", rows)) if value is not None]
    if len(chosen) != 1:
        raise TaskFailed("set exactly one of 'bytes', 'partitions' or 'rows'")
    lines = data.split(sep)
    if lines and lines[-1] == b"":
        lines.pop()
    groups: list[list[bytes]] = []
    if rows is not None:
        n = _count(ctx, rows, "rows")
        groups = [lines[i:i + n] for i in range(0, len(lines), n)]
    elif partitions is not None:
        n = _count(ctx, partitions, "partitions")
        groups = [[] for _ in range(n)]
        for i, line in enumerate(lines):  # Kestra deals rows round-robin
            groups[i % n].append(line)
        groups = [g for g in groups if g]
    else:
        limit = parse_size(ctx.render_str(bytes_, prop="bytes"))
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
    return groups


def _count(ctx, value: Any, prop: str) -> int:
    text = ctx.render_str(value, prop=prop)
    try:
        n = int(str(text).strip())
    except ValueError:
        raise TaskFailed(f"property '{prop}' must be a whole number, got {text!r}") from None
    if n < 1:
        raise TaskFailed(f"property '{prop}' must be at least 1")
    return n


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
        uri = render_uri(ctx, self.from_, "from")
        data = read(ctx, uri, "from")
        sep = (ctx.render_str(self.separator, prop="separator") or "\n").encode("utf-8")
        ext = "." + uri.rsplit(".", 1)[-1] if "." in uri.rsplit("/", 1)[-1] else ""
        groups = split_lines(ctx, data, sep, rows=self.rows, partitions=self.partitions, bytes_=self.bytes)
        uris = [ctx.storage.put_bytes(sep.join(group) + sep, new_name(ext)) for group in groups]
        return {"uris": uris}
