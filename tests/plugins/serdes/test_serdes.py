"""serdes: every conversion in both directions on real files (Python's csv, amazon-ion, fastavro,
pyarrow, openpyxl), Kestra's options, a whole flow chaining all ten tasks, and bad input
(wrong field count, malformed JSON/ION/Avro/Parquet/Excel, a schema that does not fit) giving a
clear error with nothing left in the working directory."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from kestra_dagster.compiler.runner_cli import run_flow_file
from kestra_dagster.errors import TaskFailed
from kestra_dagster.expressions import render_value
from kestra_dagster.tasks.core.storage._ion import loads
from kestra_dagster.tasks.serdes import avro, csv, excel, json as jsonser, parquet
from kestra_dagster.tasks.serdes._common import format_java


def make(cls, **props):
    return cls.model_validate({"id": "s", "type": cls.kestra_type, **props})


@pytest.fixture
def ctx(make_ctx):
    return make_ctx(renderer=render_value)


def ion(ctx, uri):
    return [loads(line) for line in ctx.storage.read_bytes(uri).decode().splitlines()]


def text(ctx, uri):
    return ctx.storage.read_bytes(uri).decode()


def nothing_left(ctx):
    return not Path(ctx.working_dir).exists() or list(Path(ctx.working_dir).iterdir()) == []


CSV = "id;name;price;day\n1;Ann é;9.5;2024-01-02\n2;\"Bob; Jr\";12;2024-02-03\n"


def test_csv_to_ion_and_back_with_options(ctx):
    src = ctx.storage.put_bytes(CSV.encode("latin-1"), "in.csv")
    out = make(csv.CsvToIon, **{"from": src}, fieldSeparator=";", charset="ISO-8859-1").run(ctx)
    assert out["size"] == 2
    rows = ion(ctx, out["uri"])
    assert rows[0] == {"id": "1", "name": "Ann é", "price": "9.5", "day": "2024-01-02"} and rows[1]["name"] == "Bob; Jr"
    back = make(csv.IonToCsv, **{"from": out["uri"]}, fieldSeparator="|", alwaysDelimitText=True).run(ctx)
    assert back["uri"].endswith(".csv") and back["size"] == 2
    assert text(ctx, back["uri"]).splitlines()[0] == '"id"|"name"|"price"|"day"'
    nohead = make(csv.CsvToIon, **{"from": src}, fieldSeparator=";", charset="ISO-8859-1", header=False, skipRows=1).run(ctx)
    assert ion(ctx, nohead["uri"])[0] == ["1", "Ann é", "9.5", "2024-01-02"]
    assert nothing_left(ctx)


def test_ion_to_csv_date_formats_and_time_zone(ctx):
    src = ctx.storage.put_bytes(b'{at:2024-01-01T10:00:00.000Z,d:2024-03-04T,n:null,f:1.5e0,dec:2.50,ok:true}\n', "t.ion")
    out = make(csv.IonToCsv, **{"from": src}, timeZoneId="Europe/Paris").run(ctx)
    assert text(ctx, out["uri"]) == "at,d,n,f,dec,ok\n2024-01-01T11:00:00.000+01:00,2024-03-04,,1.5,2.50,true\n"
    custom = make(csv.IonToCsv, **{"from": src}, timeZoneId="UTC", dateTimeFormat="dd/MM/yyyy HH:mm[ XXX]",
                  dateFormat="yyyyMMdd").run(ctx)
    assert text(ctx, custom["uri"]).splitlines()[1].startswith("01/01/2024 10:00 Z,20240304,")
    assert format_java(dt.time(9, 5), "HH:mm:ss[XXX]") == "09:05:00"


def test_csv_bad_lines(ctx):
    src = ctx.storage.put_bytes(b"a,b\n1,2\n3\n4,5\n", "bad.csv")
    with pytest.raises(TaskFailed, match=r"property 'from': line 3 has 1 field\(s\), the header has 2 \(set onBadLines"):
        make(csv.CsvToIon, **{"from": src}).run(ctx)
    skipped = make(csv.CsvToIon, **{"from": src}, onBadLines="SKIP").run(ctx)
    assert ion(ctx, skipped["uri"]) == [{"a": "1", "b": "2"}, {"a": "4", "b": "5"}]
    latin = ctx.storage.put_bytes("a\né\n".encode("latin-1"), "latin.csv")
    with pytest.raises(TaskFailed, match=r"is not utf-8 text .*set 'charset'"):
        make(csv.CsvToIon, **{"from": latin}).run(ctx)
    with pytest.raises(TaskFailed, match=r"property 'from' must be an internal storage URI"):
        make(csv.CsvToIon, **{"from": "/etc/passwd"}).run(ctx)
    assert nothing_left(ctx)


def test_json_lines_both_ways(ctx):
    src = ctx.storage.put_bytes(b'{"id": 1, "price": 9.99, "tags": ["a"], "nested": {"x": null}}\n\n{"id": 2, "price": 1e3}\n', "in.jsonl")
    out = make(jsonser.JsonToIon, **{"from": src}).run(ctx)
    assert out["size"] == 2 and ion(ctx, out["uri"])[0] == {"id": 1, "price": 9.99, "tags": ["a"], "nested": {"x": None}}
    back = make(jsonser.IonToJson, **{"from": out["uri"]}).run(ctx)
    assert back["uri"].endswith(".jsonl")
    assert [json.loads(line) for line in text(ctx, back["uri"]).splitlines()] == [
        {"id": 1, "price": 9.99, "tags": ["a"], "nested": {"x": None}}, {"id": 2, "price": 1000}]
    array = make(jsonser.IonToJson, **{"from": out["uri"]}, newLine=False).run(ctx)
    assert json.loads(text(ctx, array["uri"]))[1]["id"] == 2
    whole = make(jsonser.JsonToIon, **{"from": array["uri"]}, newLine=False).run(ctx)
    assert whole["size"] == 2
    bad = ctx.storage.put_bytes(b'{"ok": 1}\n{"broken": \n', "bad.jsonl")
    with pytest.raises(TaskFailed, match=r"property 'from': line 2 is not JSON"):
        make(jsonser.JsonToIon, **{"from": bad}).run(ctx)
    broken_ion = ctx.storage.put_bytes(b'{a:1}\n{a:\n', "bad.ion")
    with pytest.raises(TaskFailed, match=r"property 'from': the file is not valid ION after value 1"):
        make(jsonser.IonToJson, **{"from": broken_ion}).run(ctx)
    assert nothing_left(ctx)


SCHEMA = json.dumps({"type": "record", "name": "Order", "fields": [
    {"name": "id", "type": "int"}, {"name": "name", "type": ["null", "string"]},
    {"name": "price", "type": "double"}, {"name": "paid", "type": "boolean"},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]}]})

ROWS = (b'{id:"1",name:"ann",price:"9.5",paid:"yes",day:"2024-01-02",at:"2024-01-02T03:04:05Z"}\n'
        b'{id:"2",name:"null",price:"12",paid:"0",day:"2024-02-03",at:null}\n')


def test_avro_both_ways_with_schema_and_inferred(ctx):
    src = ctx.storage.put_bytes(ROWS, "rows.ion")
    out = make(avro.IonToAvro, **{"from": src}, schema=SCHEMA).run(ctx)
    assert out["size"] == 2 and out["uri"].endswith(".avro")
    back = make(avro.AvroToIon, **{"from": out["uri"]}).run(ctx)
    rows = ion(ctx, back["uri"])
    assert rows[0] == {"id": 1, "name": "ann", "price": 9.5, "paid": True, "day": "2024-01-02",
                       "at": "2024-01-02T03:04:05.000Z"}
    assert rows[1]["name"] is None and rows[1]["paid"] is False and rows[1]["at"] is None
    inferred = make(avro.IonToAvro, **{"from": ctx.storage.put_bytes(b'{a:1,b:"x"}\n{a:2,b:null}\n', "i.ion")}).run(ctx)
    assert ion(ctx, make(avro.AvroToIon, **{"from": inferred["uri"]}).run(ctx)["uri"]) == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    wrong = ctx.storage.put_bytes(b'{id:"x",name:"a",price:"1",paid:"t",day:"2024-01-01",at:null}\n', "w.ion")
    with pytest.raises(TaskFailed, match=r"property 'from': row 1: field 'id': 'x' is not an integer"):
        make(avro.IonToAvro, **{"from": wrong}, schema=SCHEMA).run(ctx)
    with pytest.raises(TaskFailed, match=r"property 'schema' must be an Avro record schema"):
        make(avro.IonToAvro, **{"from": src}, schema='{"type": "string"}').run(ctx)
    with pytest.raises(TaskFailed, match=r"property 'from' is not a readable Avro file"):
        make(avro.AvroToIon, **{"from": src}).run(ctx)
    assert nothing_left(ctx)


def test_parquet_both_ways(ctx):
    src = ctx.storage.put_bytes(ROWS, "rows.ion")
    out = make(parquet.IonToParquet, **{"from": src}, schema=SCHEMA, compressionCodec="SNAPPY").run(ctx)
    assert out["size"] == 2 and out["uri"].endswith(".parquet")
    import pyarrow.parquet as pq

    table = pq.read_table(ctx.storage.local_path(out["uri"]))
    assert table.column_names == ["id", "name", "price", "paid", "day", "at"] and table.num_rows == 2
    back = ion(ctx, make(parquet.ParquetToIon, **{"from": out["uri"]}).run(ctx)["uri"])
    assert back[0]["id"] == 1 and back[0]["day"] == "2024-01-02" and back[0]["at"].startswith("2024-01-02T03:04:05")
    with pytest.raises(TaskFailed, match=r"property 'from' is not a Parquet file"):
        make(parquet.ParquetToIon, **{"from": src}).run(ctx)
    with pytest.raises(TaskFailed, match=r"compressionCodec' must be one of"):
        make(parquet.IonToParquet, **{"from": src}, compressionCodec="RAR").run(ctx)
    assert nothing_left(ctx)


def test_excel_both_ways_with_sheets(ctx):
    a = ctx.storage.put_bytes(b'{id:1,name:"ann",at:2024-01-02T03:04:05Z,amount:2.50}\n{id:2,name:"bob",at:null,amount:1}\n', "a.ion")
    b = ctx.storage.put_bytes(b'{k:"x"}\n', "b.ion")
    out = make(excel.IonToExcel, **{"from": {"orders": a, "other": b}}).run(ctx)
    assert out["size"] == 3 and out["uri"].endswith(".xlsx")
    back = make(excel.ExcelToIon, **{"from": out["uri"]}).run(ctx)
    assert set(back["uris"]) == {"orders", "other"} and back["size"] == 3
    rows = ion(ctx, back["uris"]["orders"])
    assert rows[0]["id"] == 1 and rows[0]["name"] == "ann" and rows[0]["amount"] == 2.5
    assert rows[0]["at"].startswith("2024-01-02T03:04:05") and rows[1]["at"] is None
    one = make(excel.ExcelToIon, **{"from": out["uri"]}, sheetsTitle=["other"]).run(ctx)
    assert list(one["uris"]) == ["other"] and ion(ctx, one["uris"]["other"]) == [{"k": "x"}]
    single = make(excel.IonToExcel, **{"from": b}, sheetsTitle="Data").run(ctx)
    assert list(make(excel.ExcelToIon, **{"from": single["uri"]}).run(ctx)["uris"]) == ["Data"]
    with pytest.raises(TaskFailed, match=r"no sheet 'missing' in the workbook \(it has 'orders', 'other'\)"):
        make(excel.ExcelToIon, **{"from": out["uri"]}, sheetsTitle=["missing"]).run(ctx)
    with pytest.raises(TaskFailed, match=r"property 'from' is not an Excel .xlsx workbook"):
        make(excel.ExcelToIon, **{"from": a}).run(ctx)
    assert nothing_left(ctx)


FLOW = """
id: serdes_chain
namespace: company.team
tasks:
  - id: csv
    type: io.kestra.plugin.core.storage.Write
    extension: .csv
    content: |
      id,name,price
      1,ann,9.5
      2,bob,12
  - id: csv_to_ion
    type: io.kestra.plugin.serdes.csv.CsvToIon
    from: "{{ outputs.csv.uri }}"
  - id: to_avro
    type: io.kestra.plugin.serdes.avro.IonToAvro
    from: "{{ outputs.csv_to_ion.uri }}"
    schema: |
      {"type": "record", "name": "P", "fields": [{"name": "id", "type": "int"}, {"name": "name", "type": "string"},
       {"name": "price", "type": "double"}]}
  - id: from_avro
    type: io.kestra.plugin.serdes.avro.AvroToIon
    from: "{{ outputs.to_avro.uri }}"
  - id: to_parquet
    type: io.kestra.plugin.serdes.parquet.IonToParquet
    from: "{{ outputs.from_avro.uri }}"
  - id: from_parquet
    type: io.kestra.plugin.serdes.parquet.ParquetToIon
    from: "{{ outputs.to_parquet.uri }}"
  - id: to_excel
    type: io.kestra.plugin.serdes.excel.IonToExcel
    from: "{{ outputs.from_parquet.uri }}"
  - id: from_excel
    type: io.kestra.plugin.serdes.excel.ExcelToIon
    from: "{{ outputs.to_excel.uri }}"
  - id: to_json
    type: io.kestra.plugin.serdes.json.IonToJson
    from: "{{ outputs.from_excel.uris.Sheet }}"
  - id: from_json
    type: io.kestra.plugin.serdes.json.JsonToIon
    from: "{{ outputs.to_json.uri }}"
  - id: back_to_csv
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{ outputs.from_json.uri }}"
  - id: sizes
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.csv_to_ion.size }} {{ outputs.to_parquet.size }} {{ outputs.from_excel.size }} {{ outputs.back_to_csv.size }}"
"""


def test_all_ten_in_one_flow(tmp_path, monkeypatch):
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(tmp_path / "storage"))
    flow = tmp_path / "serdes.yaml"
    flow.write_text(FLOW)
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS", result
    assert result["outputs"]["sizes"]["value"] == "2 2 2 2"
    from kestra_dagster.engine.storage import LocalStorage

    final = LocalStorage(tmp_path / "storage").read_bytes(result["outputs"]["back_to_csv"]["uri"]).decode()
    assert final == "id,name,price\n1,ann,9.5\n2,bob,12\n"  # Excel keeps 12.0 as the number 12


def test_decimal_and_dates_survive_ion(ctx):
    from kestra_dagster.tasks.core.storage._ion_writer import dumps

    line = dumps({"d": Decimal("12.50"), "day": dt.date(2024, 1, 2), "at": dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc),
                  "odd key": "v", "null": 1, "f": 0.1})
    assert line == "{d:12.50,day:2024-01-02,at:2024-01-02T00:00:00.000Z,'odd key':\"v\",'null':1,f:0.1e0}"
    assert loads(line)["odd key"] == "v"


def test_kestra_java_time_annotations_are_read_back_as_dates(ctx):
    """Kestra writes LocalDateTime/ZonedDateTime… as annotated strings; IonToCsv formats them as dates."""
    src = ctx.storage.put_bytes(b'{local:LocalDateTime::"2024-01-01T10:00:00",zoned:ZonedDateTime::"2024-01-01T11:00+01:00'
                                b'[Europe/Paris]",t:LocalTime::"09:05:00",s:"LocalDateTime"}\n', "kestra.ion")
    out = make(csv.IonToCsv, **{"from": src}, timeZoneId="UTC", dateTimeFormat="yyyy-MM-dd HH:mm[XXX]", timeFormat="HH:mm").run(ctx)
    assert text(ctx, out["uri"]).splitlines()[1] == "2024-01-01 10:00,2024-01-01 10:00Z,09:05,LocalDateTime"
