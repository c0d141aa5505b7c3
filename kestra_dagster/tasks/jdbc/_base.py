"""The shared model and behaviour of Kestra's JDBC ``Query``/``Queries`` tasks.

``fetchType`` (default NONE) decides the outputs: FETCH_ONE → ``row``, FETCH → ``rows``, STORE →
``uri`` of an ION file in internal storage (rows streamed from a server-side cursor to a temp
file in the working directory, never all held in memory), all with ``size``. ``parameters``
bind Kestra's ``:name`` placeholders; ``afterSQL`` runs in the same transaction. ``Queries``
splits ``sql`` on ``;`` and outputs one entry per result set in ``outputs``, in one transaction
unless ``transaction: false``. Errors name the database (never the credentials), the statement
and its line in ``sql``, and what to check.
"""

from __future__ import annotations

import tempfile
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, ClassVar, Iterator, Literal

from pydantic import field_validator

from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import is_dynamic
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.core.storage._common import new_name
from kestra_dagster.tasks.core.storage._ion_writer import IonLineWriter
from kestra_dagster.tasks.jdbc._cells import cell, json_safe, zone
from kestra_dagster.tasks.jdbc._dialect import Dialect, describe_error
from kestra_dagster.tasks.jdbc._sql import Statement, bind_named, split_statements
from kestra_dagster.tasks.jdbc._url import JdbcUrl

FetchType = Literal["FETCH_ONE", "FETCH", "STORE", "NONE"]
DEFAULT_FETCH_SIZE = 10_000


class JdbcConnection(RunnableTask):
    """Connection properties every JDBC task has (no ``kestra_type``: not a task itself)."""

    dialect: ClassVar[Dialect]
    compute_kind: ClassVar[str | None] = "sql"

    url: str | None = None
    username: str | None = None
    password: str | None = None
    timeZoneId: str | None = None
    connectionPooling: bool | str | None = None  # accepted; each task run opens its own connection
    connectionPoolSize: int | str | None = None

    def default_url(self, ctx) -> str | None:
        return None

    def connection_params(self, ctx) -> dict[str, str]:
        """Driver parameters from task properties (PostgreSQL's ssl*), added to the URL's."""
        return {}

    def open(self, ctx, extra: dict[str, Any] | None = None, url_override: str | None = None) -> tuple[Any, JdbcUrl]:
        """A connection (not auto-committing) and the parsed URL; secrets registered for masking."""
        raw = url_override or (ctx.render(self.url, "url", extra=extra) if self.url is not None
                               else self.default_url(ctx))
        if not raw:
            raise TaskFailed(f"property 'url' is required (e.g. jdbc:{self.dialect.schemes[0]}:…)")
        username = ctx.render_str(self.username, "username") if self.username is not None else None
        password = ctx.render_str(self.password, "password") if self.password is not None else None
        url = self.dialect.parse(str(raw))
        url.params.update(self.connection_params(ctx))
        for secret in (password, url.params.get("password")):
            if secret:
                ctx.secret_values.add(secret)
        try:
            conn = self.dialect.connect(url, username, password)
        except TaskFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - the driver's errors, translated
            who = f" as user {username or url.params.get('user')!r}" if (username or url.params.get("user")) else ""
            raise TaskFailed(ctx.mask(
                f"cannot connect to {url.describe()}{who}: {describe_error(exc)}. "
                "Check the task's url, username and password")) from None
        return conn, url


class JdbcStatementTask(JdbcConnection):
    """``sql``, ``fetchType``, ``parameters``… shared by Query, Queries and the Trigger."""

    sql: str
    afterSQL: str | None = None
    fetchType: FetchType | str = "NONE"
    fetchSize: int | str = DEFAULT_FETCH_SIZE
    parameters: dict[str, Any] | str | None = None
    outputFiles: list[str] | str | None = None
    # deprecated since Kestra 0.19 (fetchType replaces them)
    store: bool = False
    fetchOne: bool = False
    fetch: bool = False

    default_fetch_type: ClassVar[str] = "NONE"

    @field_validator("fetchType")
    @classmethod
    def _known_fetch_type(cls, value: str) -> str:
        if not is_dynamic(value) and value.strip().upper() not in ("FETCH_ONE", "FETCH", "STORE", "NONE"):
            raise ValueError(f"fetchType must be FETCH_ONE, FETCH, STORE or NONE, got {value!r}")
        return value

    def fetch_type(self, ctx) -> str:
        if self.fetchOne:
            return "FETCH_ONE"
        if self.store:
            return "STORE"
        if self.fetch:
            return "FETCH"
        value = str(ctx.render_str(self.fetchType, "fetchType") or self.default_fetch_type).strip().upper()
        if value not in ("FETCH_ONE", "FETCH", "STORE", "NONE"):
            raise TaskFailed(f"property 'fetchType' must be FETCH_ONE, FETCH, STORE or NONE, got {value!r}")
        return value

    def rendered_parameters(self, ctx) -> dict[str, Any] | None:
        if self.parameters is None:
            return None
        params = ctx.render(self.parameters, "parameters")
        if isinstance(params, str):
            import json

            try:
                params = json.loads(params) if params.strip() else {}
            except ValueError as exc:
                raise TaskFailed(f"property 'parameters' must be a map or a JSON object: {exc}") from None
        if not isinstance(params, dict):
            raise TaskFailed(f"property 'parameters' must be a map of name → value, got {type(params).__name__}")
        return params

    # ------------------------------------------------------------------ one statement
    def execute_statement(self, ctx, conn, statement: Statement, fetch_type: str, params: dict | None,
                          tz, prop: str = "sql", where: str = "") -> dict[str, Any] | None:
        """Run one statement; its output entry when it returned a result set (None otherwise)."""
        sql, values = bind_named(statement.text, params, self.dialect.placeholder)
        fetch_size = int(ctx.render_str(self.fetchSize, "fetchSize") or DEFAULT_FETCH_SIZE)
        cursor = None
        if fetch_type == "STORE" and self.dialect.streaming_cursor is not None:
            cursor = self.dialect.streaming_cursor(conn, sql, fetch_size)
        if cursor is None:
            cursor = self.dialect.new_cursor(conn)
        with closing(cursor):
            ctx.logger.debug(f"running {where or 'the statement'}: {ctx.mask(statement.text[:500])}")
            try:
                cursor.execute(sql, values) if values else cursor.execute(sql)
                description = cursor.description
                prefetched: list = []
                if description is None and getattr(cursor, "name", None):  # psycopg2 named cursor: after a fetch
                    prefetched = cursor.fetchmany(fetch_size)
                    description = cursor.description
                if description is None or (self.dialect.has_rows and not self.dialect.has_rows(sql)):
                    return None
                names = [col[0] for col in description]
                return self._collect(ctx, cursor, names, fetch_type, tz, fetch_size, prefetched)
            except TaskFailed:
                raise
            except Exception as exc:  # noqa: BLE001 - the driver's errors, translated
                raise TaskFailed(ctx.mask(
                    f"{where or 'the statement'} of property '{prop}' (line {statement.line}) failed on "
                    f"{self.dialect.name}: {describe_error(exc)}")) from None

    def _collect(self, ctx, cursor, names: list[str], fetch_type: str, tz, fetch_size: int,
                 prefetched: list) -> dict[str, Any]:
        def rows():
            batch = prefetched
            while True:
                batch = batch or cursor.fetchmany(fetch_size)
                if not batch:
                    return
                for record in batch:
                    yield {name: cell(value, tz) for name, value in zip(names, record)}
                batch = []

        if fetch_type == "FETCH_ONE":
            first = cursor.fetchone()
            row = {n: json_safe(cell(v, tz)) for n, v in zip(names, first)} if first is not None else None
            return {"row": row, "size": 1 if first is not None else 0}
        if fetch_type == "FETCH":
            out = [json_safe(r) for r in rows()]
            return {"rows": out, "size": len(out)}
        if fetch_type == "STORE":
            return store_rows(ctx, rows())
        ctx.logger.info("fetchType is NONE: the result set is not kept")
        for _ in rows():  # drain it, so the next statement can run (MySQL needs this)
            pass
        return {}


def store_rows(ctx, rows) -> dict[str, Any]:
    """Stream ``rows`` into a new ``.ion`` file in internal storage: ``{uri, size}``."""
    workdir = Path(ctx.working_dir)
    workdir.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".ion", dir=workdir, delete=False,
                                         newline="\n", buffering=1 << 20)
    try:
        with handle:
            writer = IonLineWriter(handle)
            for row in rows:
                writer.write(row)
        uri = ctx.storage.put_file(Path(handle.name), new_name(".ion"))
        return {"uri": uri, "size": writer.count}
    finally:
        Path(handle.name).unlink(missing_ok=True)


class JdbcQuery(JdbcStatementTask):
    """``Query``: one statement (a script of several is refused: use Queries)."""

    def run(self, ctx) -> dict[str, Any]:
        with self.session(ctx) as extra:
            return {**self.run_query(ctx, extra), **self.session_outputs(ctx, extra)}

    def run_query(self, ctx, extra: dict[str, Any]) -> dict[str, Any]:
        sql = str(ctx.render(self.sql, "sql", extra=extra) or "")
        statements = split_statements(sql)
        if len(statements) > 1:
            raise TaskFailed(f"property 'sql' holds {len(statements)} statements but Query runs one; "
                             "use the Queries task of the same plugin for several")
        if not statements:
            raise TaskFailed("property 'sql' is empty")
        fetch_type, params, tz = self.fetch_type(ctx), self.rendered_parameters(ctx), zone(
            ctx.render_str(self.timeZoneId, "timeZoneId") if self.timeZoneId else None)
        conn, url = self.open(ctx, extra)
        with closing(conn):
            ctx.logger.info(f"querying {url.describe()} (fetchType {fetch_type})")
            try:
                if self.dialect.begin:
                    self.dialect.begin(conn)
                result = self.execute_statement(ctx, conn, statements[0], fetch_type, params, tz)
                if self.afterSQL:
                    after = str(ctx.render(self.afterSQL, "afterSQL", extra=extra) or "")
                    for stmt in split_statements(after)[:1]:
                        self.execute_statement(ctx, conn, stmt, "NONE", params, tz, prop="afterSQL")
                conn.commit()
            except BaseException:
                _rollback(conn)
                raise
        outputs = dict(result or {})
        outputs.setdefault("size", 0)
        return outputs

    # hooks for DuckDB/SQLite working-directory files (see _embedded)
    @contextmanager
    def session(self, ctx) -> Iterator[dict[str, Any]]:
        yield {}

    def session_outputs(self, ctx, extra: dict[str, Any]) -> dict[str, Any]:
        return {}


class JdbcQueries(JdbcQuery):
    """``Queries``: several statements, one output entry per result set (``outputs``)."""

    transaction: bool | str = True

    def run_query(self, ctx, extra: dict[str, Any]) -> dict[str, Any]:
        sql = str(ctx.render(self.sql, "sql", extra=extra) or "")
        statements = split_statements(sql)
        if not statements:
            raise TaskFailed("property 'sql' is empty")
        fetch_type, params, tz = self.fetch_type(ctx), self.rendered_parameters(ctx), zone(
            ctx.render_str(self.timeZoneId, "timeZoneId") if self.timeZoneId else None)
        transactional = ctx.render_bool(self.transaction, "transaction")
        conn, url = self.open(ctx, extra)
        outputs: list[dict[str, Any]] = []
        with closing(conn):
            ctx.logger.info(f"running {len(statements)} statement(s) on {url.describe()} "
                            f"({'one transaction' if transactional else 'each committed'}, fetchType {fetch_type})")
            try:
                if transactional and self.dialect.begin:
                    self.dialect.begin(conn)
                elif not transactional and self.dialect.autocommit:
                    self.dialect.autocommit(conn)
                for number, statement in enumerate(statements, start=1):
                    ctx.check_cancelled()
                    result = self.execute_statement(ctx, conn, statement, fetch_type, params, tz,
                                                    where=f"statement {number} of {len(statements)}")
                    if result is not None:
                        outputs.append(result)
                    if not transactional:
                        conn.commit()
                conn.commit()
            except BaseException:
                _rollback(conn)
                raise
        return {"outputs": outputs, "size": sum(int(o.get("size") or 0) for o in outputs)}


def _rollback(conn) -> None:
    try:
        conn.rollback()
    except Exception:  # noqa: BLE001 - the original error matters more
        pass

