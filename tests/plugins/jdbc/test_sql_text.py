"""Statement splitting, :name binding and JDBC URL parsing (no database needed)."""

from __future__ import annotations

import pytest

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.jdbc._sql import bind_named, split_statements
from kestra_dagster.tasks.jdbc._url import parse_jdbc_url


def test_split_keeps_semicolons_in_literals_comments_and_dollar_bodies():
    sql = """create table t (a text); -- a comment; here
insert into t values ('x;y');
/* block ; */ select $$a;b$$, "we;ird";
do $body$ begin perform 1; end $body$;
;  -- blank
"""
    parts = split_statements(sql)
    assert [p.line for p in parts] == [1, 2, 3, 4]
    assert parts[1].text == "insert into t values ('x;y')"
    assert parts[2].text.endswith('"we;ird"') and parts[3].text.startswith("do $body$")


def test_bind_named_positional_and_percent_escaping():
    sql, values = bind_named("select :a::int, '%:b%' as lit, x % 2 from t where y = :b and z = :a", {"a": 1, "b": "q"}, "%s")
    assert sql == "select %s::int, '%%:b%%' as lit, x %% 2 from t where y = %s and z = %s"
    assert values == [1, "q", 1]
    assert bind_named("select :a", {"a": 2}, "?") == ("select ?", [2])
    assert bind_named("select 1 % 2", None, "%s") == ("select 1 % 2", [])
    with pytest.raises(TaskFailed, match=r":missing but 'parameters' has no 'missing' \(it has a\)"):
        bind_named("select :missing", {"a": 1}, "%s")


def test_jdbc_urls():
    url = parse_jdbc_url("jdbc:postgresql://db.example:6543/sales?sslmode=require&user=u", ("postgresql",))
    assert (url.host, url.port, url.database, url.params) == ("db.example", 6543, "sales", {"sslmode": "require", "user": "u"})
    assert parse_jdbc_url("jdbc:mariadb://h/d", ("mysql", "mariadb")).port == 3306
    assert parse_jdbc_url("jdbc:duckdb:", ("duckdb",)).path == ""
    assert parse_jdbc_url("jdbc:sqlite:/tmp/x.db", ("sqlite",)).path == "/tmp/x.db"
    with pytest.raises(TaskFailed, match=r"jdbc:mysql is not a postgresql URL"):
        parse_jdbc_url("jdbc:mysql://h/d", ("postgresql",))
    with pytest.raises(TaskFailed) as err:
        parse_jdbc_url("postgres://u:hunter2@h/d?password=hunter2", ("postgresql",))
    assert "hunter2" not in str(err.value)


def test_families_are_registered_and_validated(tmp_path):
    from kestra_dagster.registry import get_registry

    registry = get_registry()
    assert not [p for p in registry.problems if "jdbc" in p or "serdes" in p]
    for name in ("jdbc.postgresql.Query", "jdbc.postgresql.CopyIn", "jdbc.duckdb.Queries", "jdbc.mariadb.Query",
                 "jdbc.sqlite.Queries", "serdes.csv.IonToCsv", "serdes.excel.ExcelToIon"):
        assert registry.resolve(f"io.kestra.plugin.{name}").kind == "task"
    assert registry.resolve("io.kestra.plugin.jdbc.postgresql.Trigger").kind == "trigger"
    assert registry.resolve("io.kestra.plugin.serdes.csv.CsvWriter").type == "io.kestra.plugin.serdes.csv.IonToCsv"

    from kestra_dagster.errors import FlowValidationError
    from kestra_dagster.model.loader import load_flow_file

    flow = tmp_path / "bad.yaml"
    flow.write_text("""id: bad
namespace: company.team
tasks:
  - id: q
    type: io.kestra.plugin.jdbc.duckdb.Query
    sql: select 1
    fetchType: everything
triggers:
  - id: poll
    type: io.kestra.plugin.jdbc.postgresql.Trigger
    url: jdbc:postgresql://127.0.0.1:5432/db
    sql: select 1
    fetchType: NONE
""")
    with pytest.raises(FlowValidationError) as err:
        load_flow_file(str(flow))
    text = str(err.value)
    assert "bad.yaml:7:" in text and "fetchType must be FETCH_ONE, FETCH, STORE or NONE, got 'everything'" in text
    assert "fetchType NONE is not valid for a trigger" in text
