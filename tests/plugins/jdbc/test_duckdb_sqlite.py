"""jdbc.duckdb and jdbc.sqlite against the real embedded engines: fetchType outputs, parameters,
inputFiles/outputFiles with {{ workingDir }}, database files in and out of internal storage,
Queries transactions, and bad input (missing table, several statements in a Query)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kestra_dagster.compiler.runner_cli import run_flow_file
from kestra_dagster.errors import TaskFailed
from kestra_dagster.expressions import render_value
from kestra_dagster.tasks.core.storage._ion import loads
from kestra_dagster.tasks.jdbc import duckdb, sqlite


def make(cls, **props):
    return cls.model_validate({"id": "q", "type": cls.kestra_type, **props})


@pytest.fixture
def ctx(make_ctx):
    return make_ctx(renderer=render_value)


def ion_rows(ctx, uri):
    return [loads(line) for line in ctx.storage.read_bytes(uri).decode().splitlines()]


def left_in(workdir: Path) -> list[str]:
    return sorted(p.name for p in Path(workdir).iterdir()) if Path(workdir).exists() else []


def test_duckdb_fetch_types_and_parameters(ctx):
    sql = "select * from range(3) t(n) where n >= :low order by n"
    one = make(duckdb.Query, sql=sql, parameters={"low": 1}, fetchType="FETCH_ONE").run(ctx)
    assert one["row"] == {"n": 1} and one["size"] == 1
    rows = make(duckdb.Query, sql=sql, parameters={"low": 0}, fetchType="FETCH").run(ctx)
    assert rows["rows"] == [{"n": 0}, {"n": 1}, {"n": 2}] and rows["size"] == 3
    stored = make(duckdb.Query, fetchType="STORE",
                  sql="select 1 as i, 2.5::decimal(4,2) as d, 'a''b' as s, date '2024-02-03' as day, "
                      "timestamptz '2024-01-01 10:00:00+00' as at, null as nothing").run(ctx)
    assert stored["size"] == 1 and stored["uri"].endswith(".ion")
    text = ctx.storage.read_bytes(stored["uri"]).decode()
    assert text.startswith('{i:1,d:2.50,s:"a\'b",day:2024-02-03,at:2024-01-01T') and text.endswith("nothing:null}\n")
    none = make(duckdb.Query, sql="select 1").run(ctx)
    assert none == {"size": 0, "outputFiles": {}}


def test_duckdb_input_and_output_files_in_the_working_directory(ctx):
    src = ctx.storage.put_bytes(b"id,name\n1,ann\n2,bob\n", "people.csv")
    out = make(duckdb.Query, inputFiles={"data.csv": src}, outputFiles=["out"], fetchType="FETCH",
               sql="COPY (select name from read_csv_auto('{{ workingDir }}/data.csv') order by id) "
                   "TO '{{ outputFiles.out }}' (HEADER, DELIMITER ',')").run(ctx)
    assert ctx.storage.read_bytes(out["outputFiles"]["out"]).decode().splitlines() == ["name", "ann", "bob"]
    # the working directory is DuckDB's file_search_path: a bare name works too
    rel = make(duckdb.Query, inputFiles={"data.csv": src}, fetchType="FETCH",
               sql="select count(*) as n from read_csv_auto('data.csv')").run(ctx)
    assert rel["rows"] == [{"n": 2}]
    assert left_in(ctx.working_dir) == []  # input, output and database files do not outlive the task


def test_duckdb_database_file_round_trip_and_queries(ctx):
    created = make(duckdb.Queries, outputDbFile=True, fetchType="FETCH",
                   sql="create table t(a int); insert into t values (1),(2); select sum(a) as s from t;").run(ctx)
    assert created["outputs"] == [{"rows": [{"s": 2 + 1}], "size": 1}] and created["databaseUri"]
    again = make(duckdb.Query, databaseUri=created["databaseUri"], fetchType="FETCH_ONE",
                 sql="select count(*) as n from t").run(ctx)
    assert again["row"] == {"n": 2}


def test_duckdb_queries_roll_back_and_transaction_false_keeps_each(ctx, tmp_path):
    url = f"jdbc:duckdb:{tmp_path / 'tx.duckdb'}"
    with pytest.raises(TaskFailed, match=r"statement 3 of 3"):
        make(duckdb.Queries, url=url, sql="create table t(a int); insert into t values (1); select * from nope").run(ctx)
    with pytest.raises(TaskFailed, match=r"Table with name t does not exist"):
        make(duckdb.Query, url=url, sql="select * from t").run(ctx)  # the CREATE was rolled back too
    with pytest.raises(TaskFailed, match=r"statement 3 of 3"):
        make(duckdb.Queries, url=url, transaction=False,
             sql="create table t(a int); insert into t values (1); select * from nope").run(ctx)
    kept = make(duckdb.Query, url=url, fetchType="FETCH", sql="select a from t").run(ctx)
    assert kept["rows"] == [{"a": 1}]


def test_duckdb_errors_are_located(ctx):
    with pytest.raises(TaskFailed, match=r"statement 2 of 2 of property 'sql' \(line 2\) failed on duckdb: .*missing"):
        make(duckdb.Queries, sql="select 1;\nselect * from missing").run(ctx)
    with pytest.raises(TaskFailed, match=r"holds 2 statements but Query runs one; use the Queries task"):
        make(duckdb.Query, sql="select 1; select 2").run(ctx)
    with pytest.raises(ValueError, match=r"fetchType must be FETCH_ONE, FETCH, STORE or NONE, got 'ALL'"):
        make(duckdb.Query, sql="select 1", fetchType="ALL")
    with pytest.raises(TaskFailed, match=r"fetchType' must be FETCH_ONE, FETCH, STORE or NONE"):
        make(duckdb.Query, sql="select 1", fetchType="{{ 'ALL' }}").run(ctx)
    assert left_in(ctx.working_dir) == []


def test_sqlite_file_queries_transaction_rollback_and_store(ctx, tmp_path):
    db = tmp_path / "shop.db"
    url = f"jdbc:sqlite:{db}"
    make(sqlite.Queries, url=url, sql="create table item(id integer primary key, name text, price real);"
                                      "insert into item(name, price) values ('pen', 1.5), ('ink', 7)").run(ctx)
    # a failing statement rolls the whole Queries back (transaction: true, the default)
    with pytest.raises(TaskFailed, match=r"statement 3 of 3 .*\(line 1\) failed on sqlite: no such table: nope"):
        make(sqlite.Queries, url=url, sql="create table lost(a); insert into item(name, price) values ('lost', 0); "
                                          "select * from nope").run(ctx)
    with pytest.raises(TaskFailed, match=r"no such table: lost"):  # DDL rolled back as well
        make(sqlite.Query, url=url, sql="select * from lost").run(ctx)
    rows = make(sqlite.Query, url=url, fetchType="FETCH", sql="select name, price from item where price > :p order by id",
                parameters={"p": 1}).run(ctx)
    assert rows["rows"] == [{"name": "pen", "price": 1.5}, {"name": "ink", "price": 7.0}]
    stored = make(sqlite.Query, url=url, fetchType="STORE", sql="select id, name from item order by id").run(ctx)
    assert ion_rows(ctx, stored["uri"]) == [{"id": 1, "name": "pen"}, {"id": 2, "name": "ink"}]
    copied = make(sqlite.Query, url=url, fetchType="NONE", sql="select 1").run(ctx)
    assert copied["size"] == 0
    # sqliteFile: a database from internal storage, outputDbFile: back to it
    uri = ctx.storage.put_file(db, "shop.db")
    out = make(sqlite.Query, sqliteFile=uri, outputDbFile=True, sql="delete from item where name = 'pen'").run(ctx)
    check = make(sqlite.Query, sqliteFile=out["databaseUri"], fetchType="FETCH", sql="select name from item").run(ctx)
    assert check["rows"] == [{"name": "ink"}]
    assert left_in(ctx.working_dir) == []


FLOW = """
id: jdbc_embedded
namespace: company.team
tasks:
  - id: seed
    type: io.kestra.plugin.core.storage.Write
    extension: .csv
    content: |
      id,amount
      1,10
      2,32
  - id: duck
    type: io.kestra.plugin.jdbc.duckdb.Queries
    inputFiles:
      orders.csv: "{{ outputs.seed.uri }}"
    outputFiles: [total]
    fetchType: FETCH
    sql: |
      create table orders as select * from read_csv_auto('{{ workingDir }}/orders.csv');
      copy (select sum(amount) as total from orders) to '{{ outputFiles.total }}' (header, delimiter ',');
      select count(*) as n, sum(amount) as total from orders;
  - id: lite_setup
    type: io.kestra.plugin.jdbc.sqlite.Queries
    url: "jdbc:sqlite:{{ inputs.db }}"
    sql: |
      create table if not exists runs(n int);
      insert into runs values (1);
  - id: lite
    type: io.kestra.plugin.jdbc.sqlite.Query
    url: "jdbc:sqlite:{{ inputs.db }}"
    fetchType: FETCH_ONE
    sql: "select :total * 2 as doubled"
    parameters:
      total: "{{ outputs.duck.outputs[0].rows[0].total }}"
  - id: export
    type: io.kestra.plugin.jdbc.duckdb.Query
    inputFiles:
      orders.csv: "{{ outputs.seed.uri }}"
    fetchType: STORE
    sql: select id, amount * 2 as doubled from read_csv_auto('orders.csv') order by id
  - id: to_csv
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{ outputs.export.uri }}"
  - id: result
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.duck.outputs[0].rows[0].n }} {{ outputs.lite.row.doubled }} {{ outputs.export.size }}"
inputs:
  - id: db
    type: STRING
"""


def test_duckdb_and_sqlite_in_a_flow(tmp_path, monkeypatch):
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(tmp_path / "storage"))
    flow = tmp_path / "jdbc_embedded.yaml"
    flow.write_text(FLOW)
    result = run_flow_file(str(flow), {"db": str(tmp_path / "lite.db")})
    assert result["state"] == "SUCCESS", result
    assert result["outputs"]["result"]["value"] == "2 84 2"
    from kestra_dagster.engine.storage import LocalStorage

    csv = LocalStorage(tmp_path / "storage").read_bytes(result["outputs"]["to_csv"]["uri"]).decode()
    assert csv == "id,doubled\n1,20\n2,64\n"  # the blueprints' most common pair: Query STORE → IonToCsv
    assert result["outputs"]["duck"]["outputFiles"]["total"].startswith("kestra://")


def test_missing_table_in_a_flow_fails_the_task_with_its_line(tmp_path, capfd):
    flow = tmp_path / "bad.yaml"
    flow.write_text("""
id: bad_jdbc
namespace: company.team
tasks:
  - id: report
    type: io.kestra.plugin.jdbc.duckdb.Query
    fetchType: FETCH
    sql: |
      select *
      from no_such_table
""")
    result = run_flow_file(str(flow), {})
    assert result["state"] == "FAILED" and result["taskStates"] == {"report": "FAILED"}
    out, err = capfd.readouterr()
    assert "Task 'report' (Query) ended FAILED: the statement of property 'sql' (line 1) failed on duckdb" in out + err
    assert "LINE 2: from no_such_table" in out + err


def test_sqlite_trigger_store_fires_once_per_row_set(ctx, tmp_path):
    from kestra_dagster.tasks.jdbc._trigger import RowSetCursor, poll

    url = f"jdbc:sqlite:{tmp_path / 'queue.db'}"
    make(sqlite.Queries, url=url, sql="create table queue(id int); insert into queue values (1), (2)").run(ctx)
    trigger = sqlite.Trigger.model_validate({"id": "t", "type": sqlite.Trigger.kestra_type, "url": url,
                                             "sql": "select id from queue order by id", "fetchType": "STORE"})
    cursor, fired = RowSetCursor(), []
    for _ in range(2):
        cursor, fire = poll(trigger.query_task().run(ctx), cursor, ctx.storage.local_path)
        fired += [fire] if fire else []
    assert len(fired) == 1 and fired[0][1]["size"] == 2 and ion_rows(ctx, fired[0][1]["uri"]) == [{"id": 1}, {"id": 2}]
    make(sqlite.Query, url=url, sql="delete from queue").run(ctx)
    cursor, fire = poll(trigger.query_task().run(ctx), cursor, ctx.storage.local_path)
    assert fire is None and cursor.last is None  # no rows: nothing, and the same rows later would fire again


def test_store_does_not_hold_the_rows_in_memory(tmp_path):
    """20,000 rows (about 7 MB as Python dicts) stored with a Python heap peak under 3 MB (a fetch batch and the write buffer).

    Measured in a fresh interpreter: tracemalloc counts every thread, and servers other tests leave
    running in this one (moto, a daemon's sensors) would be counted too."""
    import json
    import subprocess
    import sys

    script = f"""
import json, tracemalloc
from kestra_dagster.testing import build_task_context
from kestra_dagster.tasks.jdbc import sqlite
url = "jdbc:sqlite:{tmp_path / 'big.db'}"
sql = ("with recursive g(n) as (select 1 union all select n + 1 from g where n < 20000) "
       "select n as id, 'customer number ' || n as name, n * 1.25 as amount from g")
ctx = build_task_context({str(tmp_path)!r}, "q")
def query(**props):
    return sqlite.Query.model_validate({{"id": "q", "type": sqlite.Query.kestra_type, "url": url,
                                        "fetchType": "STORE", **props}})
query(sql="select 1 as id").run(ctx)  # first-use imports, outside the measure
tracemalloc.start()
out = query(fetchSize=1000, sql=sql).run(ctx)
print(json.dumps({{"size": out["size"], "peak": tracemalloc.get_traced_memory()[1]}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["size"] == 20_000
    peak = measured["peak"]
    assert peak < 3 * 1024 * 1024, f"STORE peaked at {peak / 1e6:.1f} MB of Python objects"
