"""jdbc.mysql / jdbc.mariadb against a real MariaDB server started for the session (Debian's
mariadb-server on a free port with its own data directory): fetch types, parameters, streaming
STORE, Queries rollback, the Trigger, a flow, and wrong credentials / missing table."""

from __future__ import annotations

import pytest

from kestra_dagster.compiler.runner_cli import run_flow_file
from kestra_dagster.errors import TaskFailed
from kestra_dagster.expressions import render_value
from kestra_dagster.tasks.core.storage._ion import loads
from kestra_dagster.tasks.jdbc import mariadb, mysql
from kestra_dagster.tasks.jdbc._trigger import RowSetCursor, poll

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def my(mariadb_server):
    return {"url": mariadb_server["url"], "username": mariadb_server["user"], "password": mariadb_server["password"]}


@pytest.fixture
def ctx(make_ctx):
    return make_ctx(renderer=render_value)


def make(cls, **props):
    return cls.model_validate({"id": "q", "type": cls.kestra_type, **props})


def test_mariadb_query_queries_and_store(ctx, my):
    make(mariadb.Queries, **my, sql="""
        drop table if exists stock;
        create table stock(id int primary key auto_increment, sku varchar(20), qty int, price decimal(6,2),
                           seen datetime, note text);
        insert into stock(sku, qty, price, seen, note) values
          ('a-1', 3, 9.99, '2024-01-02 03:04:05', 'semi;colon'), ('b-2', 0, 120.00, null, null);
    """).run(ctx)
    one = make(mariadb.Query, **my, fetchType="FETCH_ONE", sql="select * from stock where sku = :sku", parameters={"sku": "a-1"}).run(ctx)
    assert one["row"] == {"id": 1, "sku": "a-1", "qty": 3, "price": 9.99, "seen": "2024-01-02T03:04:05", "note": "semi;colon"}
    rows = make(mysql.Query, **{**my, "url": my["url"].replace("jdbc:mariadb", "jdbc:mysql")}, fetchType="FETCH",
                sql="select sku from stock where qty >= :q order by id", parameters={"q": 0}).run(ctx)
    assert rows["rows"] == [{"sku": "a-1"}, {"sku": "b-2"}]
    stored = make(mariadb.Query, **my, fetchType="STORE", sql="select sku, price from stock order by id").run(ctx)
    lines = ctx.storage.read_bytes(stored["uri"]).decode().splitlines()
    assert stored["size"] == 2 and lines[0] == '{sku:"a-1",price:9.99}' and loads(lines[1]) == {"sku": "b-2", "price": 120.0}
    with pytest.raises(TaskFailed, match=r"statement 2 of 2 of property 'sql' \(line 2\) failed on mysql: "
                                         r"Table 'kd.missing' doesn't exist \(MySQL error 1146\)"):
        make(mariadb.Queries, **my, sql="insert into stock(sku, qty) values ('lost', 1);\nselect * from missing").run(ctx)
    count = make(mariadb.Query, **my, fetchType="FETCH_ONE", sql="select count(*) as n from stock").run(ctx)
    assert count["row"] == {"n": 2}  # rolled back


def test_mysql_load_data_local_infile(ctx, my):
    make(mysql.Queries, **my, sql="drop table if exists cities; create table cities(name varchar(20), pop int)").run(ctx)
    src = ctx.storage.put_bytes(b"name,pop\nLyon,520000\nNantes,320000\n", "cities.csv")
    make(mysql.Query, **my, inputFile=src, sql="LOAD DATA LOCAL INFILE '{{ inputFile }}' INTO TABLE cities "
                                               "FIELDS TERMINATED BY ',' IGNORE 1 LINES").run(ctx)
    rows = make(mysql.Query, **my, fetchType="FETCH", sql="select name, pop from cities order by pop").run(ctx)
    assert rows["rows"] == [{"name": "Nantes", "pop": 320000}, {"name": "Lyon", "pop": 520000}]
    assert list(__import__("pathlib").Path(ctx.working_dir).iterdir()) == []
    with pytest.raises(TaskFailed, match=r"property 'inputFile': cannot read kestra:///nope"):
        make(mysql.Query, **my, inputFile="kestra:///nope.csv", sql="select 1").run(ctx)


def test_mariadb_wrong_credentials(ctx, my):
    with pytest.raises(TaskFailed) as err:
        make(mariadb.Query, **{**my, "password": "wrong-Secret-77"}, sql="select 1").run(ctx)
    message = str(err.value)
    assert "cannot connect to mariadb 127.0.0.1:" in message and "as user 'kd'" in message
    assert "Access denied" in message and "wrong-Secret-77" not in message


def test_mariadb_trigger_fires_once_per_row_set(ctx, my):
    make(mariadb.Queries, **my, sql="drop table if exists jobs; create table jobs(id int); insert into jobs values (7)").run(ctx)
    trigger = mariadb.Trigger.model_validate({"id": "t", "type": mariadb.Trigger.kestra_type, **my,
                                              "sql": "select id from jobs", "fetchType": "FETCH_ONE"})
    cursor, fired = RowSetCursor(), []
    for _ in range(2):
        cursor, fire = poll(trigger.query_task().run(ctx), cursor, ctx.storage.local_path)
        fired += [fire] if fire else []
    assert [f[1] for f in fired] == [{"row": {"id": 7}, "size": 1}]


def test_mariadb_flow(tmp_path, mariadb_server, monkeypatch):
    monkeypatch.setenv("KESTRA_SECRET_DB_PASSWORD", mariadb_server["password"])
    flow = tmp_path / "my.yaml"
    flow.write_text(f"""
id: mariadb_flow
namespace: company.team
tasks:
  - id: load
    type: io.kestra.plugin.jdbc.mariadb.Queries
    url: {mariadb_server['url']}
    username: {mariadb_server['user']}
    password: "{{{{ secret('DB_PASSWORD') }}}}"
    fetchType: FETCH
    sql: |
      create table if not exists visits(page varchar(50), hits int);
      delete from visits;
      insert into visits values ('home', 5), ('docs', 7);
      select sum(hits) as total from visits;
  - id: top
    type: io.kestra.plugin.jdbc.mysql.Query
    url: {mariadb_server['url'].replace('jdbc:mariadb', 'jdbc:mysql')}
    username: {mariadb_server['user']}
    password: "{{{{ secret('DB_PASSWORD') }}}}"
    fetchType: FETCH_ONE
    sql: select page from visits order by hits desc limit 1
  - id: export
    type: io.kestra.plugin.jdbc.mariadb.Query
    url: {mariadb_server['url']}
    username: {mariadb_server['user']}
    password: "{{{{ secret('DB_PASSWORD') }}}}"
    fetchType: STORE
    sql: select page, hits from visits order by page
  - id: check
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ outputs.load.outputs[0].rows[0].total }}}} {{{{ outputs.top.row.page }}}} {{{{ outputs.export.size }}}}"
""")
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS", result
    assert result["outputs"]["check"]["value"] == "12 docs 2"
