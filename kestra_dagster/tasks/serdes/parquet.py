"""``io.kestra.plugin.serdes.parquet``: IonToParquet (Avro ``schema`` given or inferred, written
in row groups of ``rowGroupSize`` bytes-worth of batches) and ParquetToIon (read batch by batch),
through pyarrow; neither holds the whole file in memory."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar, Literal

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.core.storage._ion_writer import IonLineWriter
from kestra_dagster.tasks.serdes._common import SerdesTask
from kestra_dagster.tasks.serdes._typed import TypedWriter

BATCH_ROWS = 10_000
_CODECS = {"UNCOMPRESSED": "none", "SNAPPY": "snappy", "GZIP": "gzip", "LZO": "lzo", "BROTLI": "brotli",
           "LZ4": "lz4", "ZSTD": "zstd"}


def arrow_type(avro_type: Any):
    """The pyarrow type of an Avro field type (unions with null are nullable)."""
    import pyarrow as pa

    if isinstance(avro_type, list):
        options = [t for t in avro_type if t != "null"]
        return arrow_type(options[0]) if len(options) == 1 else pa.string()
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical == "date":
            return pa.date32()
        if logical in ("timestamp-millis", "timestamp-micros"):
            return pa.timestamp("ms" if logical.endswith("millis") else "us", tz="UTC")
        if logical in ("local-timestamp-millis", "local-timestamp-micros"):
            return pa.timestamp("ms" if logical.endswith("millis") else "us")
        if logical in ("time-millis", "time-micros"):
            return pa.time32("ms") if logical.endswith("millis") else pa.time64("us")
        if logical == "decimal":
            return pa.decimal128(int(avro_type.get("precision", 38)), int(avro_type.get("scale", 0)))
        kind = avro_type.get("type")
        if kind == "array":
            return pa.list_(arrow_type(avro_type["items"]))
        if kind == "map":
            return pa.map_(pa.string(), arrow_type(avro_type["values"]))
        if kind == "record":
            return pa.struct([pa.field(f["name"], arrow_type(f["type"])) for f in avro_type["fields"]])
        if kind == "enum":
            return pa.string()
        return arrow_type(kind)
    return {"string": pa.string(), "int": pa.int32(), "long": pa.int64(), "float": pa.float32(),
            "double": pa.float64(), "boolean": pa.bool_(), "bytes": pa.binary(), "fixed": pa.binary(),
            "null": pa.null()}.get(avro_type, pa.string())


class IonToParquet(TypedWriter):
    """Convert an ION file to Parquet, with an Avro ``schema`` (or one inferred from the rows)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.serdes.parquet.IonToParquet"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.serdes.parquet.ParquetWriter",)
    output_extension: ClassVar[str] = ".parquet"

    compressionCodec: Literal["UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD"] | str = "GZIP"
    parquetVersion: Literal["V1", "V2"] | str = "V2"
    rowGroupSize: int | str | None = None
    pageSize: int | str | None = None
    dictionaryPageSize: int | str | None = None

    def run(self, ctx) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        codec = str(ctx.render_str(self.compressionCodec, "compressionCodec")).upper()
        if codec not in _CODECS:
            raise TaskFailed(f"property 'compressionCodec' must be one of {', '.join(_CODECS)}, got {codec!r}")
        version = "1.0" if str(ctx.render_str(self.parquetVersion, "parquetVersion")).upper() == "V1" else "2.6"
        schema, rows = self.typed_rows(ctx)
        arrow_schema = pa.schema([pa.field(f["name"], arrow_type(f["type"])) for f in schema["fields"]])
        options: dict[str, Any] = {"compression": _CODECS[codec], "version": version}
        if self.pageSize is not None:
            options["data_page_size"] = int(ctx.render_str(self.pageSize, "pageSize"))
        if self.dictionaryPageSize is not None:
            options["dictionary_pagesize_limit"] = int(ctx.render_str(self.dictionaryPageSize, "dictionaryPageSize"))
        path = self.scratch(ctx, ".parquet")
        count = 0
        try:
            with pq.ParquetWriter(str(path), arrow_schema, **options) as writer:
                while True:
                    batch = list(itertools.islice(rows, BATCH_ROWS))
                    if not batch:
                        break
                    try:
                        table = pa.Table.from_pylist(batch, schema=arrow_schema)
                    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                        raise TaskFailed(f"rows {count + 1}–{count + len(batch)} do not fit the schema: "
                                         f"{exc}") from None
                    writer.write_table(table)
                    count += len(batch)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return {"uri": self.stored(ctx, path, ".parquet"), "size": count}


class ParquetToIon(SerdesTask):
    """Convert a Parquet file to ION, one row per line (read batch by batch)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.serdes.parquet.ParquetToIon"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.serdes.parquet.ParquetReader",)

    def run(self, ctx) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        source = self.source(ctx)
        try:
            parquet = pq.ParquetFile(str(source))
        except (pa.ArrowInvalid, OSError) as exc:
            raise TaskFailed(f"property 'from' is not a Parquet file: {exc}") from None
        with self.output(ctx) as (out, result), parquet:
            writer = IonLineWriter(out)
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                for row in batch.to_pylist():
                    writer.write({k: (dict(v) if isinstance(v, list) and v and isinstance(v[0], tuple) else v)
                                  for k, v in row.items()})
        return {"uri": result["uri"], "size": writer.count}
