"""``io.kestra.plugin.serdes.json``: JsonToIon and IonToJson, streamed line by line.

``newLine: true`` (the default) is JSON Lines: one value per line in and out. With ``false``
IonToJson writes one JSON array, and JsonToIon reads one JSON document (an array gives one ION
value per element; that document is read whole, JSON Lines are not).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.core.storage._ion_writer import IonLineWriter
from kestra_dagster.tasks.serdes._common import SerdesTask, charset, time_zone
from kestra_dagster.tasks.serdes._ion_io import read_ion


class JsonToIon(SerdesTask):
    """Convert a JSON Lines file (or one JSON document with newLine: false) to ION."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.serdes.json.JsonToIon"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.serdes.json.JsonReader",)

    charset: str = "UTF-8"
    newLine: bool | str = True

    def run(self, ctx) -> dict[str, Any]:
        source = self.source(ctx)
        encoding = charset(ctx, self.charset)
        lines = ctx.render_bool(self.newLine, "newLine")
        with self.output(ctx) as (out, result):
            writer = IonLineWriter(out)
            try:
                with open(source, encoding=encoding) as text:
                    if lines:
                        for number, line in enumerate(text, start=1):
                            if not line.strip():
                                continue
                            writer.write(_parse(line, f"line {number}"))
                    else:
                        document = _parse(text.read(), "the document")
                        for value in document if isinstance(document, list) else [document]:
                            writer.write(value)
            except UnicodeDecodeError as exc:
                raise TaskFailed(f"property 'from' is not {encoding} text (byte {exc.start}): set 'charset'") from None
        return {"uri": result["uri"], "size": writer.count}


def _parse(text: str, where: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise TaskFailed(f"property 'from': {where} is not JSON: {exc} (with one document that is not "
                         "JSON Lines, set newLine: false)") from None


class IonToJson(SerdesTask):
    """Convert an ION file to JSON Lines (or one JSON array with newLine: false)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.serdes.json.IonToJson"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.serdes.json.JsonWriter",)

    charset: str = "UTF-8"
    newLine: bool | str = True
    timeZoneId: str | None = None
    shouldKeepAnnotations: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        source = self.source(ctx)
        encoding = charset(ctx, self.charset)
        lines = ctx.render_bool(self.newLine, "newLine")
        tz = time_zone(ctx, self.timeZoneId)

        def default(value: Any) -> Any:
            if isinstance(value, dt.datetime):
                return (value.astimezone(tz) if value.tzinfo else value).isoformat()
            if isinstance(value, (dt.date, dt.time)):
                return value.isoformat()
            if isinstance(value, Decimal):
                return int(value) if value == value.to_integral_value() else float(value)
            if isinstance(value, bytes):
                return base64.b64encode(value).decode("ascii")
            return str(value)

        count = 0
        with self.output(ctx, encoding=encoding, extension=".jsonl" if lines else ".json") as (out, result):
            if not lines:
                out.write("[")
            for value in read_ion(source):
                text = json.dumps(value, default=default, ensure_ascii=False, separators=(",", ":"))
                if lines:
                    out.write(text + "\n")
                else:
                    out.write(("," if count else "") + text)
                count += 1
            if not lines:
                out.write("]")
        return {"uri": result["uri"], "size": count}
