"""``io.kestra.plugin.serdes.csv``: CsvToIon and IonToCsv, streamed row by row.

CsvToIon writes one struct per line keyed by the header (every value a string, as Kestra), or a
list per line with ``header: false``; a row whose field count differs from the header is an
error naming its line (``onBadLines: ERROR``, the default), a warning (``WARN``) or dropped
(``SKIP``). IonToCsv writes the first row's keys as header; dates use ``dateFormat``/
``timeFormat``/``dateTimeFormat`` (Java patterns) in ``timeZoneId``.
"""

from __future__ import annotations

import csv
from typing import Any, ClassVar, Literal

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.core.storage._ion_writer import IonLineWriter
from kestra_dagster.tasks.serdes._common import SerdesTask, charset, one_char, time_zone, typed_text
from kestra_dagster.tasks.serdes._ion_io import read_ion

OnBadLines = Literal["ERROR", "WARN", "SKIP"]


class CsvToIon(SerdesTask):
    """Convert a CSV file to ION (one struct per row, keyed by the header)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.serdes.csv.CsvToIon"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.serdes.csv.CsvReader",)

    header: bool | str = True
    fieldSeparator: str = ","
    textDelimiter: str = '"'
    skipEmptyRows: bool | str = False
    skipRows: int | str = 0
    charset: str = "UTF-8"
    onBadLines: OnBadLines | str = "ERROR"
    errorOnDifferentFieldCount: bool | str | None = None  # deprecated: onBadLines
    onEmptyHeader: Literal["DROP", "KEEP"] | str = "DROP"
    maxBufferSize: int | str | None = None
    maxFieldSize: int | str | None = None
    allowExtraCharsAfterClosingQuote: bool | str | None = None

    def run(self, ctx) -> dict[str, Any]:
        source = self.source(ctx)
        encoding = charset(ctx, self.charset)
        sep = one_char(ctx, self.fieldSeparator, "fieldSeparator")
        quote = one_char(ctx, self.textDelimiter, "textDelimiter")
        has_header = ctx.render_bool(self.header, "header")
        skip_empty = ctx.render_bool(self.skipEmptyRows, "skipEmptyRows")
        skip_rows = int(ctx.render_str(self.skipRows, "skipRows") or 0)
        on_bad = str(ctx.render_str(self.onBadLines, "onBadLines")).upper()
        if self.errorOnDifferentFieldCount is not None and not ctx.render_bool(self.errorOnDifferentFieldCount,
                                                                               "errorOnDifferentFieldCount"):
            on_bad = "SKIP"
        if on_bad not in ("ERROR", "WARN", "SKIP"):
            raise TaskFailed(f"property 'onBadLines' must be ERROR, WARN or SKIP, got {on_bad!r}")
        drop_empty_header = str(ctx.render_str(self.onEmptyHeader, "onEmptyHeader")).upper() == "DROP"
        names: list[str] | None = None
        keep: list[int] = []
        bad = 0
        with self.output(ctx) as (out, result):
            writer = IonLineWriter(out)
            try:
                with open(source, encoding=encoding, newline="") as text:
                    reader = csv.reader(text, delimiter=sep, quotechar=quote, strict=False)
                    for row in reader:
                        line = reader.line_num
                        if skip_rows:
                            skip_rows -= 1
                            continue
                        if not row or all(not f for f in row):
                            if skip_empty or not row:
                                continue
                        if has_header and names is None:
                            names = row
                            keep = [i for i, n in enumerate(row) if n or not drop_empty_header]
                            continue
                        if names is not None and len(row) != len(names):
                            message = f"line {line} has {len(row)} field(s), the header has {len(names)}"
                            if on_bad == "ERROR":
                                raise TaskFailed(f"property 'from': {message} (set onBadLines: WARN or SKIP "
                                                 "to go on without such lines)")
                            bad += 1
                            if on_bad == "WARN":
                                ctx.logger.warning(f"{message}: skipped")
                            continue
                        if names is None:
                            writer.write(row)
                        else:
                            writer.write({names[i]: row[i] for i in keep})
            except UnicodeDecodeError as exc:
                raise TaskFailed(f"property 'from' is not {encoding} text (byte {exc.start}): set 'charset'") from None
            except csv.Error as exc:
                raise TaskFailed(f"property 'from': malformed CSV: {exc}") from None
        if bad:
            ctx.logger.info(f"{bad} bad line(s) skipped (onBadLines {on_bad})")
        return {"uri": result["uri"], "size": writer.count}


class IonToCsv(SerdesTask):
    """Convert an ION file (one struct per row) to CSV with a header line."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.serdes.csv.IonToCsv"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.serdes.csv.CsvWriter",)
    output_extension: ClassVar[str] = ".csv"

    header: bool | str = True
    fieldSeparator: str = ","
    textDelimiter: str = '"'
    lineDelimiter: str = "\n"
    alwaysDelimitText: bool | str = False
    quoteMode: str | None = None
    charset: str = "UTF-8"
    dateFormat: str = "yyyy-MM-dd"
    timeFormat: str = "HH:mm:ss[XXX]"
    dateTimeFormat: str = "yyyy-MM-dd'T'HH:mm:ss.SSS[XXX]"
    timeZoneId: str | None = None

    def run(self, ctx) -> dict[str, Any]:
        source = self.source(ctx)
        encoding = charset(ctx, self.charset)
        always = ctx.render_bool(self.alwaysDelimitText, "alwaysDelimitText")
        mode = str(ctx.render_str(self.quoteMode, "quoteMode") or "").upper()
        quoting = csv.QUOTE_ALL if always or mode == "ALL" else csv.QUOTE_NONNUMERIC if mode == "NON_NUMERIC" \
            else csv.QUOTE_MINIMAL
        formats = (str(ctx.render_str(self.dateFormat, "dateFormat")),
                   str(ctx.render_str(self.timeFormat, "timeFormat")),
                   str(ctx.render_str(self.dateTimeFormat, "dateTimeFormat")), time_zone(ctx, self.timeZoneId))
        with_header = ctx.render_bool(self.header, "header")
        count = 0
        with self.output(ctx, encoding=encoding) as (out, result):
            writer = csv.writer(out, delimiter=one_char(ctx, self.fieldSeparator, "fieldSeparator"),
                                quotechar=one_char(ctx, self.textDelimiter, "textDelimiter"),
                                lineterminator=str(ctx.render_str(self.lineDelimiter, "lineDelimiter")),
                                quoting=quoting)
            columns: list[str] | None = None
            for number, value in enumerate(read_ion(source), start=1):
                if isinstance(value, dict):
                    if columns is None:
                        columns = list(value)
                        if with_header:
                            writer.writerow(columns)
                    cells = [value.get(c) for c in columns]
                elif isinstance(value, list):
                    cells = value
                else:
                    raise TaskFailed(f"property 'from': value {number} is a {type(value).__name__}, "
                                     "not a struct {…} or a list […]: one row per value is expected")
                try:
                    writer.writerow([typed_text(c, *formats) for c in cells])
                except UnicodeEncodeError as exc:
                    raise TaskFailed(f"value {number} cannot be written as {encoding}: {exc.reason}; "
                                     "set 'charset'") from None
                count += 1
        return {"uri": result["uri"], "size": count}
