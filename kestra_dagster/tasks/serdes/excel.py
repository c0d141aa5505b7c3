"""``io.kestra.plugin.serdes.excel``: ExcelToIon (one ION file per sheet, ``uris`` by sheet title)
and IonToExcel (one or several ION files, one sheet each), through openpyxl's read-only and
write-only modes, which stream rows instead of building the workbook in memory."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.core.storage._ion_writer import IonLineWriter
from kestra_dagster.tasks.serdes._common import SerdesTask
from kestra_dagster.tasks.serdes._ion_io import read_ion


class ExcelToIon(SerdesTask):
    """Convert the sheets of an Excel (.xlsx) file to ION files, one per sheet (``uris``)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.serdes.excel.ExcelToIon"

    sheetsTitle: list[str] | None = None
    charset: str = "UTF-8"
    valueRender: Literal["FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"] | str = "UNFORMATTED_VALUE"
    dateTimeRender: Literal["SERIAL_NUMBER", "FORMATTED_STRING", "UNFORMATTED_VALUE"] | str = "UNFORMATTED_VALUE"
    header: bool | str = True
    skipEmptyRows: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        import openpyxl

        source = self.source(ctx)
        formulas = str(ctx.render_str(self.valueRender, "valueRender")).upper() == "FORMULA"
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            with open(source, "rb") as probe:
                if probe.read(4) != b"PK\x03\x04":
                    raise InvalidFileException("it is not a zip container "
                                               "(.xls files are not supported: save as .xlsx)")
            handle = open(source, "rb")  # read-only books read lazily from it: closed in `finally` below
            try:
                book = openpyxl.load_workbook(handle, read_only=True, data_only=not formulas)
            except BaseException:
                handle.close()
                raise
        except (zipfile.BadZipFile, OSError, KeyError, ValueError, InvalidFileException) as exc:
            raise TaskFailed(f"property 'from' is not an Excel .xlsx workbook: {exc}") from None
        wanted = ctx.render(self.sheetsTitle, "sheetsTitle") if self.sheetsTitle else None
        if wanted:
            missing = [t for t in wanted if t not in book.sheetnames]
            if missing:
                book.close()
                handle.close()
                raise TaskFailed(f"property 'sheetsTitle': no sheet {', '.join(map(repr, missing))} in the workbook "
                                 f"(it has {', '.join(map(repr, book.sheetnames))})")
        with_header = ctx.render_bool(self.header, "header")
        skip_empty = ctx.render_bool(self.skipEmptyRows, "skipEmptyRows")
        as_text = str(ctx.render_str(self.dateTimeRender, "dateTimeRender")).upper() == "FORMATTED_STRING"
        uris: dict[str, str] = {}
        total = 0
        try:
            for title in wanted or book.sheetnames:
                sheet = book[title]
                with self.output(ctx) as (out, result):
                    writer = IonLineWriter(out)
                    names: list[str] | None = None
                    for row in sheet.iter_rows(values_only=True):
                        values = [_cell(v, as_text) for v in row]
                        if all(v is None or v == "" for v in values):
                            if skip_empty or names is None and with_header:
                                continue
                        if with_header and names is None:
                            names = [str(v) if v is not None else f"column_{i + 1}" for i, v in enumerate(values)]
                            continue
                        if names is not None:
                            writer.write({n: (values[i] if i < len(values) else None) for i, n in enumerate(names)})
                        else:
                            writer.write(values)
                uris[title] = result["uri"]
                total += writer.count
        finally:
            book.close()
            handle.close()
        return {"uris": uris, "size": total}


def _cell(value: Any, as_text: bool) -> Any:
    if as_text and isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return value


class IonToExcel(SerdesTask):
    """Write ION files to an Excel (.xlsx) workbook: ``from`` is one URI or a map of sheet title → URI."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.serdes.excel.IonToExcel"
    output_extension: ClassVar[str] = ".xlsx"

    from_: Any = Field(alias="from")  # a URI, or a map of sheet title → URI
    charset: str = "UTF-8"
    sheetsTitle: str = "Sheet"
    header: bool | str = True
    styles: bool | str = True
    dateFormat: str | None = None
    timeZoneId: str | None = None

    def run(self, ctx) -> dict[str, Any]:
        import openpyxl
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        rendered = ctx.render(self.from_, "from")
        if isinstance(rendered, str) and rendered.strip().startswith("{"):
            rendered = json.loads(rendered)
        sheets = rendered if isinstance(rendered, dict) else {ctx.render_str(self.sheetsTitle, "sheetsTitle"): rendered}
        with_header = ctx.render_bool(self.header, "header")
        styled = ctx.render_bool(self.styles, "styles")
        book = openpyxl.Workbook(write_only=True)
        total = 0
        for title, uri in sheets.items():
            source = self.model_copy(update={"from_": str(uri)}).source(ctx)
            sheet = book.create_sheet(title=str(title)[:31])
            columns: list[str] | None = None
            for number, value in enumerate(read_ion(source), start=1):
                if isinstance(value, dict):
                    if columns is None:
                        columns = list(value)
                        if with_header:
                            head = []
                            for name in columns:
                                cell = WriteOnlyCell(sheet, value=name)
                                if styled:
                                    cell.font = Font(bold=True)
                                head.append(cell)
                            sheet.append(head)
                    cells = [value.get(c) for c in columns]
                elif isinstance(value, list):
                    cells = value
                else:
                    raise TaskFailed(f"property 'from' ({uri}): value {number} is a {type(value).__name__}, not a row")
                sheet.append([_excel_value(c) for c in cells])
                total += 1
        path = self.scratch(ctx, ".xlsx")
        try:
            book.save(str(path))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return {"uri": self.stored(ctx, path, ".xlsx"), "size": total}


def _excel_value(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones: the wall-clock time is kept
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Decimal):
        return float(value)
    return value
