"""Options shared by IonToAvro and IonToParquet (Kestra's ``AbstractAvroConverter``), and the
row stream they both consume: the schema (given or inferred from the first rows) and rows
converted to it, a bad row failing with its number (``onBadLines: ERROR``) or skipped."""

from __future__ import annotations

import itertools
from typing import Any, Iterator

from pydantic import Field

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.serdes._avro_schema import (DEFAULT_FALSE, DEFAULT_NULL, DEFAULT_TRUE, BadValue, Converter,
                                                      infer_schema, parse_schema)
from kestra_dagster.tasks.serdes._common import SerdesTask, time_zone
from kestra_dagster.tasks.serdes._ion_io import read_ion


class TypedWriter(SerdesTask):
    """Schema-driven writers (no ``kestra_type``: not a task itself)."""

    schema_: Any = Field(default=None, alias="schema")
    numberOfRowsToScan: int | str = 100
    trueValues: list[str] | None = None
    falseValues: list[str] | None = None
    nullValues: list[str] | None = None
    dateFormat: str = "yyyy-MM-dd[XXX]"
    timeFormat: str = "HH:mm[:ss][.SSSSSS][XXX]"
    datetimeFormat: str = "yyyy-MM-dd'T'HH:mm[:ss][.SSSSSS][XXX]"
    decimalSeparator: str = "."
    strictSchema: bool | str = False
    inferAllFields: bool | str = False
    timeZoneId: str | None = None
    onBadLines: str = "ERROR"

    def typed_rows(self, ctx) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
        source = self.source(ctx)
        values = read_ion(source)
        scan = int(ctx.render_str(self.numberOfRowsToScan, "numberOfRowsToScan") or 100)
        if self.schema_ is not None:
            rendered = ctx.render(self.schema_, "schema")
            schema = parse_schema(rendered)
            head: list[Any] = []
        else:
            head = list(itertools.islice(values, scan))
            schema = infer_schema([v for v in head if isinstance(v, dict)])
            ctx.logger.info(f"no 'schema': inferred {len(schema['fields'])} nullable field(s) from {len(head)} row(s)")
        render_list = lambda v, p, d: [str(x) for x in (ctx.render(v, p) if v is not None else d)]  # noqa: E731
        converter = Converter(render_list(self.trueValues, "trueValues", DEFAULT_TRUE),
                              render_list(self.falseValues, "falseValues", DEFAULT_FALSE),
                              render_list(self.nullValues, "nullValues", DEFAULT_NULL),
                              str(ctx.render_str(self.decimalSeparator, "decimalSeparator")),
                              time_zone(ctx, self.timeZoneId))
        strict = ctx.render_bool(self.strictSchema, "strictSchema")
        on_bad = str(ctx.render_str(self.onBadLines, "onBadLines")).upper()

        def rows() -> Iterator[dict[str, Any]]:
            for number, value in enumerate(itertools.chain(head, values), start=1):
                if not isinstance(value, dict):
                    problem = f"row {number} is a {type(value).__name__}, not a struct"
                else:
                    try:
                        yield converter.record(schema, value, strict)
                        continue
                    except BadValue as exc:
                        problem = f"row {number}: {exc}"
                if on_bad == "ERROR":
                    raise TaskFailed(f"property 'from': {problem} (fix the data or the 'schema', or set "
                                     "onBadLines: SKIP/WARN)")
                if on_bad == "WARN":
                    ctx.logger.warning(f"{problem}: skipped")

        return schema, rows()
