"""Line-per-item ION files for the item tasks (FilterItems, DeduplicateItems): read lazily, one
struct per line, each rendered against an expression with the item's fields as variables."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Iterator

from kestra_dagster.engine.storage import StorageError
from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.core.storage._common import new_name
from kestra_dagster.tasks.core.storage._ion import IonError, loads


def item_lines(ctx, uri: str, prop: str) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) for each non-blank line of the stored file ``uri``."""
    try:
        path = ctx.storage.local_path(uri)
    except (StorageError, OSError) as exc:
        raise TaskFailed(f"property '{prop}': cannot read {uri}: {exc}") from None
    with open(path, encoding="utf-8", newline="") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield number, line


def item_fields(line: str, number: int, prop: str) -> dict[str, Any]:
    try:
        value = loads(line)
    except IonError as exc:
        raise TaskFailed(f"property '{prop}': line {number} is not ION: {exc}") from None
    if not isinstance(value, dict):
        raise TaskFailed(f"property '{prop}': line {number} is a {type(value).__name__}, not an ION struct {{…}}")
    return value


def render_for_item(ctx, expression: str, fields: dict[str, Any], prop: str) -> Any:
    """``expression`` rendered with the item's fields on top of the task's variables (as Kestra)."""
    return ctx.render(expression, prop, extra=fields)


class ItemWriter:
    """Kept lines go to a temp file in the working directory (no whole file in memory); ``store()``
    puts it in internal storage as ``.ion``. The temp file is removed either way."""

    def __init__(self, ctx):
        self.ctx = ctx
        self._file = tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".ion", dir=Path(ctx.working_dir),
                                                 delete=False, newline="\n")

    def __enter__(self) -> "ItemWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._file.close()
        Path(self._file.name).unlink(missing_ok=True)

    def write(self, line: str) -> None:
        self._file.write(line + "\n")

    def store(self) -> str:
        self._file.close()
        return self.ctx.storage.put_file(Path(self._file.name), new_name(".ion"))
