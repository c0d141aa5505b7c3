"""``io.kestra.plugin.serdes.avro``: IonToAvro (``schema`` given or inferred) and AvroToIon, both
streamed through fastavro (records are written and read one at a time)."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.core.storage._ion_writer import IonLineWriter
from kestra_dagster.tasks.serdes._common import SerdesTask
from kestra_dagster.tasks.serdes._typed import TypedWriter


class IonToAvro(TypedWriter):
    """Convert an ION file to an Avro container file, with ``schema`` (or one inferred from the rows)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.serdes.avro.IonToAvro"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.serdes.avro.AvroWriter",)
    output_extension: ClassVar[str] = ".avro"

    def run(self, ctx) -> dict[str, Any]:
        import fastavro

        schema, rows = self.typed_rows(ctx)
        counted = _Counter(rows)
        with self.output(ctx, mode="wb") as (out, result):
            try:
                fastavro.writer(out, fastavro.parse_schema(schema), counted, codec="null")
            except TaskFailed:
                raise
            except (ValueError, TypeError) as exc:
                raise TaskFailed(f"row {counted.count} does not fit the Avro schema: {exc}") from None
        return {"uri": result["uri"], "size": counted.count}


class _Counter:
    def __init__(self, rows):
        self.rows, self.count = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row


class AvroToIon(SerdesTask):
    """Convert an Avro container file to ION, one record per line."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.serdes.avro.AvroToIon"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.serdes.avro.AvroReader",)

    onBadLines: str = "ERROR"

    def run(self, ctx) -> dict[str, Any]:
        import fastavro

        source = self.source(ctx)
        with self.output(ctx) as (out, result), open(source, "rb") as data:
            writer = IonLineWriter(out)
            try:
                for record in fastavro.reader(data):
                    writer.write(record)
            except (ValueError, EOFError, StopIteration, TypeError, fastavro.read.SchemaResolutionError) as exc:
                raise TaskFailed(f"property 'from' is not a readable Avro file (after {writer.count} record(s)): "
                                 f"{exc or type(exc).__name__}") from None
        return {"uri": result["uri"], "size": writer.count}
