"""jdbc.postgresql against a real PostgreSQL 15 cluster started for the session: Query/Queries
fetch types, parameters and time zones, CopyIn/CopyOut, the polling Trigger (exactly once per row
set on a Dagster instance), a whole flow, and bad input (wrong password, missing table, bad file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kestra_dagster.compiler.runner_cli import run_flow_file
from kestra_dagster.errors import TaskFailed
from kestra_dagster.expressions import render_value
from kestra_dagster.tasks.core.storage._ion import loads
from kestra_dagster.tasks.jdbc import postgresql
from kestra_dagster.tasks.jdbc._trigger import RowSetCursor, poll

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def pg(pg_server):
    return {"url": pg_server["url"], "username": pg_server["user"], "password": pg_server["password"]}


@pytest.fixture
def ctx(make_ctx):
    return make_ctx(renderer=render_value)


def make(cls, **props):
    return cls.model_validate({"id": "q", "type": cls.kestra_type, **props})


def test_query_fetch_types_parameters_and_time_zones(ctx, pg):
    make(postgresql.Queries, **pg, sql="""
        drop table if exists pay;
        create table pay(id serial primary key, who text, amount numeric(8,2), at timestamptz, day date,
                         local timestamp, tags text[], meta jsonb, uid uuid, span interval);
        insert into pay(who, amount, at, day, local, tags, meta, uid, span) values
          ('ann', 12.50, '2024-01-01 10:00:00+00', '2024-01-01', '2024-01-01 10:00:00', '{a,b}', '{"k": 1}',
           'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 day 02:03:04'),
          ('bob', 3, '2024-06-01 12:30:00+00', '2024-06-01', null, '{}', null, null, null);
    """).run(ctx)
    one = make(postgresql.Query, **pg, fetchType="FETCH_ONE", timeZoneId="Europe/Paris",
               sql="select * from pay where who = :who", parameters={"who": "ann"}).run(ctx)
    row = one["row"]
    assert one["size"] == 1
    assert row["at"] == "2024-01-01T11:00:00+01:00" and row["day"] == "2024-01-01" and row["local"] == "2024-01-01T10:00:00"
    assert row["amount"] == 12.5 and row["tags"] == ["a", "b"] and row["meta"] == {"k": 1}
    assert row["uid"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" and row["span"] == "P1DT2H3M4S"
    utc = make(postgresql.Query, **pg, fetchType="FETCH", timeZoneId="UTC", sql="select who, at from pay order by id").run(ctx)
    assert utc["rows"] == [{"who": "ann", "at": "2024-01-01T10:00:00+00:00"}, {"who": "bob", "at": "2024-06-01T12:30:00+00:00"}]
    stored = make(postgresql.Query, **pg, fetchType="STORE", timeZoneId="UTC",
                  sql="select who, amount, at, day from pay order by id").run(ctx)
    lines = ctx.storage.read_bytes(stored["uri"]).decode().splitlines()
    assert stored["size"] == 2 and lines[0] == '{who:"ann",amount:12.50,at:2024-01-01T10:00:00.000Z,day:2024-01-01}'
    assert loads(lines[1])["amount"] == 3.0
    empty = make(postgresql.Query, **pg, fetchType="FETCH_ONE", sql="select * from pay where false").run(ctx)
    assert empty == {"row": None, "size": 0}
    # afterSQL runs in the same transaction as the query
    marked = make(postgresql.Query, **pg, fetchType="FETCH", sql="select who from pay where amount > 5",
                  afterSQL="update pay set amount = 0 where who = 'ann'").run(ctx)
    assert marked["rows"] == [{"who": "ann"}]
    assert make(postgresql.Query, **pg, fetchType="FETCH_ONE", sql="select amount from pay where who='ann'").run(ctx)["row"] == {"amount": 0}


def test_queries_outputs_and_rollback(ctx, pg):
    out = make(postgresql.Queries, **pg, fetchType="FETCH", sql="""
        create temp table q(a int);
        insert into q values (1), (2);
        select sum(a) as s from q;
        select 'x;y' as t;
    """).run(ctx)
    assert out["outputs"] == [{"rows": [{"s": 3}], "size": 1}, {"rows": [{"t": "x;y"}], "size": 1}]
    make(postgresql.Queries, **pg, sql="drop table if exists keep; create table keep(a int)").run(ctx)
    with pytest.raises(TaskFailed, match=r"statement 2 of 2 of property 'sql' \(line 2\) failed on postgresql: "
                                         r'relation "missing_table" does not exist .*\(SQLSTATE 42P01\)'):
        make(postgresql.Queries, **pg, sql="insert into keep values (1);\nselect * from missing_table").run(ctx)
    left = make(postgresql.Query, **pg, fetchType="FETCH_ONE", sql="select count(*) as n from keep").run(ctx)
    assert left["row"] == {"n": 0}  # the whole Queries rolled back


def test_store_streams_from_a_server_side_cursor(ctx, pg):
    out = make(postgresql.Query, **pg, fetchType="STORE", fetchSize=1000,
               sql="select g as n, md5(g::text) as h from generate_series(1, 25000) g").run(ctx)
    assert out["size"] == 25000
    path = ctx.storage.local_path(out["uri"])
    with open(path) as lines:
        first = loads(next(lines))
        count = 1 + sum(1 for _ in lines)
    assert first["n"] == 1 and count == 25000
    assert list(Path(ctx.working_dir).iterdir()) == []  # the temp file was moved to storage, nothing left


def test_wrong_password_is_clear_and_never_shows_the_secret(ctx, pg):
    bad = {**pg, "password": "not-the-Password-42"}
    with pytest.raises(TaskFailed) as err:
        make(postgresql.Query, **bad, sql="select 1").run(ctx)
    message = str(err.value)
    assert message.startswith(f"cannot connect to postgresql 127.0.0.1:{pg['url'].rsplit(':', 1)[1].split('/')[0]}/kd as user 'kd'")
    assert "password authentication failed" in message and "Check the task's url, username and password" in message
    assert "not-the-Password-42" not in message
    with pytest.raises(TaskFailed, match=r"jdbc:mysql is not a postgresql/postgres URL"):
        make(postgresql.Query, url="jdbc:mysql://127.0.0.1/kd", sql="select 1").run(ctx)


def test_copy_in_and_copy_out(ctx, pg):
    make(postgresql.Queries, **pg, sql="drop table if exists people; create table people(id int, name text, city text)").run(ctx)
    csv = ctx.storage.put_bytes(b"id,name,city\n1,ann,Paris\n2,bob,\n", "people.csv")
    loaded = make(postgresql.CopyIn, **pg, **{"from": csv}, table="people", format="CSV", header=True).run(ctx)
    assert loaded == {"rowCount": 2}
    out = make(postgresql.CopyOut, **pg, format="CSV", header=True, delimiter=";",
               sql="select id, name, coalesce(city, 'none') as city from people order by id").run(ctx)
    assert out["rowCount"] == 2
    assert ctx.storage.read_bytes(out["uri"]).decode() == "id;name;city\n1;ann;Paris\n2;bob;none\n"
    table = make(postgresql.CopyOut, **pg, table="people", columns=["name"]).run(ctx)
    assert ctx.storage.read_bytes(table["uri"]).decode() == "ann\nbob\n"
    # a malformed file: the error names the file and says nothing was loaded; the table is unchanged
    broken = ctx.storage.put_bytes(b"id,name,city\nthree,carl,Rome\n", "broken.csv")
    with pytest.raises(TaskFailed, match=r"COPY \"people\" FROM property 'from' \(kestra://.*broken.csv\) failed on "
                                         r"postgresql: invalid input syntax for type integer: \"three\".*nothing was loaded"):
        make(postgresql.CopyIn, **pg, **{"from": broken}, table="people", format="CSV", header=True).run(ctx)
    with pytest.raises(TaskFailed, match=r"relation \"nope\" does not exist"):
        make(postgresql.CopyIn, **pg, **{"from": csv}, table="nope", format="CSV", header=True).run(ctx)
    assert make(postgresql.Query, **pg, fetchType="FETCH_ONE", sql="select count(*) as n from people").run(ctx)["row"] == {"n": 2}
    assert list(Path(ctx.working_dir).iterdir()) == []


def test_trigger_poll_fires_once_per_row_set(ctx, pg):
    make(postgresql.Queries, **pg, sql="drop table if exists inbox; create table inbox(id int, done bool default false);"
                                       "insert into inbox(id) values (1), (2)").run(ctx)
    trigger = postgresql.Trigger.model_validate({"id": "watch", "type": postgresql.Trigger.kestra_type, **pg,
                                                 "sql": "select id from inbox where not done order by id"})
    cursor = RowSetCursor()
    runs = []
    for _ in range(3):  # the same rows three times: one run
        result = trigger.query_task().run(ctx)
        cursor, fire = poll(result, cursor, ctx.storage.local_path)
        if fire:
            runs.append(fire)
    assert len(runs) == 1 and runs[0][1] == {"rows": [{"id": 1}, {"id": 2}], "size": 2}
    # a tick re-evaluated from the cursor before it (a crash before Dagster kept the new one) asks
    # for the same run key, which Dagster drops
    _, again = poll(trigger.query_task().run(ctx), RowSetCursor(), ctx.storage.local_path)
    assert again[0] == runs[0][0]
    make(postgresql.Query, **pg, sql="insert into inbox(id) values (3)").run(ctx)
    cursor, fire = poll(trigger.query_task().run(ctx), cursor, ctx.storage.local_path)
    assert fire and fire[1]["size"] == 3 and fire[0] != runs[0][0]
    with pytest.raises(ValueError, match="fetchType NONE is not valid for a trigger"):
        postgresql.Trigger.model_validate({"id": "w", "type": postgresql.Trigger.kestra_type, **pg, "sql": "select 1",
                                           "fetchType": "NONE"})


def test_flow_and_trigger_sensor_on_a_dagster_instance(tmp_path, pg_server, monkeypatch, capfd):
    from dagster import DagsterInstance, build_sensor_context

    from kestra_dagster.compiler.definitions import load_catalog
    from kestra_dagster.compiler.triggers import build_triggers

    monkeypatch.setenv("KESTRA_SECRET_PG_PASSWORD", pg_server["password"])
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(tmp_path / "storage"))
    flow = tmp_path / "flows" / "orders.yaml"
    flow.parent.mkdir()
    flow.write_text(f"""
id: orders
namespace: company.team
pluginDefaults:
  - type: io.kestra.plugin.jdbc.postgresql
    values:
      url: {pg_server['url']}
      username: {pg_server['user']}
      password: "{{{{ secret('PG_PASSWORD') }}}}"
tasks:
  - id: setup
    type: io.kestra.plugin.jdbc.postgresql.Queries
    sql: |
      create table if not exists orders(id int, amount int, processed bool default false);
      create table if not exists staging(id int, amount int);
  - id: csv
    type: io.kestra.plugin.core.storage.Write
    extension: .csv
    content: |
      id,amount
      100,5
  - id: load
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    from: "{{{{ outputs.csv.uri }}}}"
    table: staging
    columns: [id, amount]
    format: CSV
    header: true
  - id: export
    type: io.kestra.plugin.jdbc.postgresql.CopyOut
    format: CSV
    header: true
    sql: select id, amount from staging order by id
  - id: total
    type: io.kestra.plugin.jdbc.postgresql.Query
    fetchType: FETCH_ONE
    sql: select count(*) as n, coalesce(sum(amount), 0) as total from orders
  - id: report
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ outputs.total.row.n }}}} orders, {{{{ outputs.export.rowCount }}}} exported, trigger saw {{{{ trigger.size ?? 0 }}}}"
triggers:
  - id: new_orders
    type: io.kestra.plugin.jdbc.postgresql.Trigger
    interval: PT1S
    url: {pg_server['url']}
    username: {pg_server['user']}
    password: "{{{{ secret('PG_PASSWORD') }}}}"
    sql: select id, amount from orders where not processed order by id
    afterSQL: update orders set processed = true where not processed
""")
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS", result
    assert result["outputs"]["report"]["value"] == "0 orders, 1 exported, trigger saw 0"
    assert result["outputs"]["load"]["rowCount"] == 1

    catalog = load_catalog([str(flow)])
    compiled = catalog.by_file(str(flow))
    [sensor_def] = [s for s in build_triggers(catalog)[1] if s.name.endswith("new_orders")]
    def sql(text):
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=pg_server["port"], dbname="kd", user="kd", password=pg_server["password"])
        with conn, conn.cursor() as cur:
            cur.execute(text)
        conn.close()

    sql("insert into orders(id, amount) values (1, 10), (2, 32)")
    home = tmp_path / "home"
    home.mkdir()

    def evaluate(instance, cursor):
        context = build_sensor_context(instance=instance, cursor=cursor, sensor_name=sensor_def.name)
        data = sensor_def.evaluate_tick(context)
        return data.run_requests or [], data.cursor

    with DagsterInstance.local_temp(str(home)) as instance:
        [request], cursor = evaluate(instance, None)
        assert request.tags["kestra/rows"] == "2"
        tags = {**request.tags, "dagster/run_key": request.run_key, "dagster/sensor_name": sensor_def.name}
        run = compiled.job.execute_in_process(run_config=request.run_config, instance=instance, tags=tags,
                                              raise_on_error=False)
        assert run.success
        again, cursor = evaluate(instance, cursor)  # afterSQL marked them: nothing new
        assert again == []
    text = json.dumps(request.run_config)
    assert '"amount": 32' in text and pg_server["password"] not in text
    out, err = capfd.readouterr()
    assert pg_server["password"] not in out + err
