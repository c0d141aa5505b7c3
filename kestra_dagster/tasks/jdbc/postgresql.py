"""``io.kestra.plugin.jdbc.postgresql``: Query, Queries, CopyIn, CopyOut and the polling Trigger,
through psycopg2 (libpq) against ``jdbc:postgresql://host:port/database`` URLs."""

from __future__ import annotations

import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.core.storage._common import new_name
from kestra_dagster.tasks.jdbc._base import JdbcQueries, JdbcQuery, _rollback
from kestra_dagster.tasks.jdbc._dialect import describe_error
from kestra_dagster.tasks.jdbc._postgres import PostgresConnection, ssl_cleanup
from kestra_dagster.tasks.jdbc._trigger import JdbcTrigger


class _WithSslCleanup:
    def run(self, ctx) -> dict[str, Any]:
        try:
            return super().run(ctx)  # type: ignore[misc]
        finally:
            ssl_cleanup(ctx)


class Query(_WithSslCleanup, PostgresConnection, JdbcQuery):
    """Run one SQL statement on PostgreSQL; ``fetchType`` keeps its rows (row, rows or an ION file)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.postgresql.Query"


class Queries(_WithSslCleanup, PostgresConnection, JdbcQueries):
    """Run several SQL statements on PostgreSQL in one transaction; one output per result set."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.postgresql.Queries"


class Trigger(JdbcTrigger):
    """Poll PostgreSQL with ``sql``; one execution per new row set (trigger.rows/row/uri, size)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.postgresql.Trigger"
    query_class: ClassVar[type] = Query

    ssl: bool | str | None = None
    sslMode: str | None = None
    sslRootCert: str | None = None
    sslCert: str | None = None
    sslKey: str | None = None
    sslKeyPassword: str | None = None

    def query_task(self):
        task = super().query_task()
        ssl = {k: getattr(self, k) for k in ("ssl", "sslMode", "sslRootCert", "sslCert", "sslKey", "sslKeyPassword")
               if getattr(self, k) is not None}
        return task.model_copy(update=ssl) if ssl else task


# ----------------------------------------------------------------------------- COPY
class _Copy(PostgresConnection):
    """Options of PostgreSQL's COPY, as Kestra names them (no ``kestra_type``: not a task itself)."""

    table: str | None = None
    columns: list[str] | None = None
    format: Literal["TEXT", "CSV", "BINARY"] | str = "TEXT"
    oids: bool | str | None = None
    freeze: bool | str | None = None
    delimiter: str | None = None
    nullString: str | None = None
    header: bool | str | None = None
    quote: str | None = None
    escape: str | None = None
    forceQuote: list[str] | None = None
    forceNotNull: list[str] | None = None
    forceNull: list[str] | None = None
    encoding: str | None = None
    socketTimeout: int | str | None = None

    def copy_sql(self, ctx, source: str, direction: str):
        """``COPY <source> TO STDOUT|FROM STDIN WITH (…)``; names and options are quoted by psycopg2."""
        from psycopg2 import sql as pgsql

        options: list[Any] = []
        fmt = str(ctx.render_str(self.format, "format") or "TEXT").upper()
        if fmt not in ("TEXT", "CSV", "BINARY"):
            raise TaskFailed(f"property 'format' must be TEXT, CSV or BINARY, got {fmt!r}")
        if fmt != "TEXT":
            options.append(pgsql.SQL("FORMAT " + fmt))
        for prop, word in (("freeze", "FREEZE"), ("oids", "OIDS")):
            if getattr(self, prop) is not None and ctx.render_bool(getattr(self, prop), prop):
                options.append(pgsql.SQL(word))
        for prop, word in (("delimiter", "DELIMITER"), ("nullString", "NULL"), ("quote", "QUOTE"),
                           ("escape", "ESCAPE"), ("encoding", "ENCODING")):
            value = getattr(self, prop)
            if value is not None:
                options.append(pgsql.SQL(word + " ") + pgsql.Literal(str(ctx.render_str(value, prop))))
        if self.header is not None:
            options.append(pgsql.SQL("HEADER " + ("TRUE" if ctx.render_bool(self.header, "header") else "FALSE")))
        for prop, word in (("forceQuote", "FORCE_QUOTE"), ("forceNotNull", "FORCE_NOT_NULL"),
                           ("forceNull", "FORCE_NULL")):
            cols = ctx.render(getattr(self, prop), prop)
            if cols:
                if prop == "forceQuote" and cols == ["*"]:
                    options.append(pgsql.SQL("FORCE_QUOTE *"))
                else:
                    options.append(pgsql.SQL(word + " (") + pgsql.SQL(", ").join(pgsql.Identifier(c) for c in cols)
                                   + pgsql.SQL(")"))
        statement = pgsql.SQL("COPY ") + pgsql.SQL(source) + pgsql.SQL(" " + direction)
        if options:
            statement = statement + pgsql.SQL(" WITH (") + pgsql.SQL(", ").join(options) + pgsql.SQL(")")
        return statement

    def table_source(self, ctx) -> str:
        """``"schema"."table" ("col", …)``: names quoted so nothing else can ride along, unquoted ones
        folded to lower case first, as PostgreSQL reads the names Kestra pastes in as written."""
        table = ctx.render_str(self.table, "table")
        if not table:
            raise TaskFailed("property 'table' is required (the table to copy)")
        quoted = ".".join(_identifier(p) for p in table.split("."))
        cols = ctx.render(self.columns, "columns") or []
        if cols:
            quoted += " (" + ", ".join(_identifier(str(c)) for c in cols) + ")"
        return quoted


def _identifier(name: str) -> str:
    name = name.strip()
    if len(name) > 1 and name.startswith('"') and name.endswith('"'):
        return name
    return '"' + name.lower().replace('"', '""') + '"'


class CopyIn(_Copy):
    """Load a file from internal storage into a PostgreSQL table with COPY FROM STDIN (``rowCount``)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.postgresql.CopyIn"

    from_: str = Field(alias="from")

    def run_copy(self, ctx) -> dict[str, Any]:
        uri = str(ctx.render_str(self.from_, "from")).strip()
        try:
            source = ctx.storage.local_path(uri)
        except Exception as exc:  # noqa: BLE001 - StorageError names the problem
            raise TaskFailed(f"property 'from': cannot read {uri}: {exc}") from None
        table = self.table_source(ctx)
        conn, url = self.open(ctx)
        with closing(conn):
            statement = self.copy_sql(ctx, table, "FROM STDIN")
            ctx.logger.info(f"copying {uri} into {table} on {url.describe()}")
            try:
                with conn.cursor() as cursor, open(source, "rb") as data:
                    cursor.copy_expert(statement, data, size=1 << 20)
                    count = cursor.rowcount
                conn.commit()
            except Exception as exc:  # noqa: BLE001 - the driver's errors, translated
                _rollback(conn)
                raise TaskFailed(ctx.mask(f"COPY {table} FROM property 'from' ({uri}) failed on postgresql: "
                                          f"{describe_error(exc)}; nothing was loaded")) from None
        return {"rowCount": count}

    def run(self, ctx) -> dict[str, Any]:
        try:
            return self.run_copy(ctx)
        finally:
            ssl_cleanup(ctx)


class CopyOut(_Copy):
    """Copy a table or a query's result to a file in internal storage with COPY TO STDOUT."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.postgresql.CopyOut"

    sql: str | None = None

    def run_copy(self, ctx) -> dict[str, Any]:
        if self.sql is None and self.table is None:
            raise TaskFailed("set 'sql' (a query) or 'table' to copy out")
        source = f"({ctx.render_str(self.sql, 'sql')})" if self.sql is not None else self.table_source(ctx)
        conn, url = self.open(ctx)
        workdir = Path(ctx.working_dir)
        workdir.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile("wb", suffix=".copy", dir=workdir, delete=False)
        try:
            with closing(conn):
                statement = self.copy_sql(ctx, source, "TO STDOUT")
                ctx.logger.info(f"copying {'the query' if self.sql is not None else source} out of {url.describe()}")
                try:
                    with conn.cursor() as cursor, handle:
                        cursor.copy_expert(statement, handle, size=1 << 20)
                        count = cursor.rowcount
                    conn.commit()
                except Exception as exc:  # noqa: BLE001
                    _rollback(conn)
                    what = "property 'sql'" if self.sql is not None else f"table {source}"
                    raise TaskFailed(ctx.mask(f"COPY of {what} failed on postgresql: {describe_error(exc)}")) from None
            uri = ctx.storage.put_file(Path(handle.name), new_name(None))
        finally:
            Path(handle.name).unlink(missing_ok=True)
        return {"uri": uri, "rowCount": count}

    def run(self, ctx) -> dict[str, Any]:
        try:
            return self.run_copy(ctx)
        finally:
            ssl_cleanup(ctx)
