"""``io.kestra.plugin.core.storage.DeduplicateItems``: keep the last item of each key in an ION file."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.core.storage._common import render_uri
from kestra_dagster.tasks.core.storage._items import ItemWriter, item_fields, item_lines, render_for_item


class DeduplicateItems(RunnableTask):
    """Keep only the last ION item of each key rendered by ``expr``, in file order.

    Each line of ``from`` is one ION struct whose fields are variables of the expression. As
    Kestra, the file is read twice (key → last line, then the write) so only the keys are held in
    memory. An expression error fails the task. Outputs ``uri``, ``numKeys``,
    ``processedItemsTotal``, ``droppedItemsTotal``.
    """

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.storage.DeduplicateItems"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.storages.DeduplicateItems",)
    compute_kind: ClassVar[str | None] = "storage"

    from_: str = Field(alias="from")
    expr: str

    def run(self, ctx) -> dict[str, Any]:
        uri = render_uri(ctx, self.from_, "from")

        def keys():
            for number, line in item_lines(ctx, uri, "from"):
                yield number, line, str(render_for_item(ctx, self.expr, item_fields(line, number, "from"), "expr"))

        last: dict[str, int] = {}
        for number, _, key in keys():
            last[key] = number
        processed = dropped = 0
        with ItemWriter(ctx) as out:
            for number, line, key in keys():
                processed += 1
                if last.get(key) == number:
                    out.write(line)
                else:
                    dropped += 1
            stored = out.store()
        ctx.logger.info(f"{processed} item(s) processed, {len(last)} distinct key(s), {dropped} dropped")
        return {"uri": stored, "numKeys": len(last), "processedItemsTotal": processed, "droppedItemsTotal": dropped}
