"""``io.kestra.plugin.core.storage.FilterItems``: keep or drop the items of an ION file by expression."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from kestra_dagster.errors import ExpressionError, TaskFailed
from kestra_dagster.expressions import is_truthy
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.core.storage._common import render_uri
from kestra_dagster.tasks.core.storage._items import ItemWriter, item_fields, item_lines, render_for_item

_FILTER_TYPES = ("INCLUDE", "EXCLUDE")
_ON_ERROR = ("FAIL", "INCLUDE", "EXCLUDE")


class FilterItems(RunnableTask):
    """Keep (``filterType: INCLUDE``) or drop (``EXCLUDE``) the ION items for which ``filterCondition`` is true.

    Each line of ``from`` is one ION struct whose fields are variables of the expression; kept
    lines are copied unchanged. An expression error or a null result fails the task, or keeps or
    drops the item (``errorOrNullBehavior``). Outputs ``uri``, ``processedItemsTotal``,
    ``droppedItemsTotal``.
    """

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.storage.FilterItems"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.storages.FilterItems",)
    compute_kind: ClassVar[str | None] = "storage"

    from_: str = Field(alias="from")
    filterCondition: str
    filterType: Literal["INCLUDE", "EXCLUDE"] | str = "INCLUDE"
    errorOrNullBehavior: Literal["FAIL", "INCLUDE", "EXCLUDE"] | str = "FAIL"

    def run(self, ctx) -> dict[str, Any]:
        uri = render_uri(ctx, self.from_, "from")
        keep_matches = _choice(ctx, self.filterType, "filterType", _FILTER_TYPES) == "INCLUDE"
        on_error = _choice(ctx, self.errorOrNullBehavior, "errorOrNullBehavior", _ON_ERROR)
        processed = dropped = 0
        with ItemWriter(ctx) as out:
            for number, line in item_lines(ctx, uri, "from"):
                fields = item_fields(line, number, "from")
                try:
                    rendered = render_for_item(ctx, self.filterCondition, fields, "filterCondition")
                    problem = None if rendered is not None else "returned null"
                except ExpressionError as exc:
                    rendered, problem = None, str(exc)
                if problem is None:
                    keep = is_truthy(rendered.strip() if isinstance(rendered, str) else rendered) == keep_matches
                elif on_error == "FAIL":
                    raise TaskFailed(f"filterCondition on item {number} of {uri}: {problem}; set errorOrNullBehavior "
                                     "to INCLUDE or EXCLUDE to keep or drop such items") from None
                else:
                    keep = on_error == "INCLUDE"
                processed += 1
                if keep:
                    out.write(line)
                else:
                    dropped += 1
            stored = out.store()
        ctx.logger.info(f"{processed} item(s) processed, {dropped} dropped")
        return {"uri": stored, "processedItemsTotal": processed, "droppedItemsTotal": dropped}


def _choice(ctx, value: Any, prop: str, allowed: tuple[str, ...]) -> str:
    chosen = str(ctx.render_str(value, prop=prop) or "").strip().upper()
    if chosen not in allowed:
        raise TaskFailed(f"property '{prop}' must be one of {', '.join(allowed)}, got {value!r}")
    return chosen
