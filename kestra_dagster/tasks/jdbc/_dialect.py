"""What differs between databases: how to connect, the placeholder, streaming cursors, errors.

One ``Dialect`` per database family; the query tasks only talk to it. Drivers are imported when
a task runs, so a missing one is a clear error naming the package to install.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Callable

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.jdbc._url import JdbcUrl, parse_jdbc_url

CONNECT_TIMEOUT_SECONDS = 10


def import_driver(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise TaskFailed(f"the {module} driver is not installed: pip install {package}") from None


@dataclass
class Dialect:
    name: str  # postgresql | mysql | sqlite | duckdb
    schemes: tuple[str, ...]
    placeholder: str
    embedded: bool
    connect: Callable[[JdbcUrl, str | None, str | None], Any]
    #: a cursor that streams rows (server side) for STORE; None = the plain cursor already does
    streaming_cursor: Callable[[Any, str, int], Any] | None = None
    #: whether a statement's result is rows for the task (DuckDB describes DDL/DML results too)
    has_rows: Callable[[str], bool] | None = None
    #: start an explicit transaction (embedded engines run in autocommit otherwise)
    begin: Callable[[Any], None] | None = None
    #: each statement commits by itself (``Queries`` with ``transaction: false``)
    autocommit: Callable[[Any], None] | None = None
    #: the cursor statements run on (default ``conn.cursor()``)
    cursor: Callable[[Any], Any] | None = None

    def new_cursor(self, conn):
        return self.cursor(conn) if self.cursor else conn.cursor()

    def parse(self, url: str) -> JdbcUrl:
        return parse_jdbc_url(url, self.schemes)


# ----------------------------------------------------------------------------- PostgreSQL
_PG_PARAMS = {"sslmode": "sslmode", "sslrootcert": "sslrootcert", "sslcert": "sslcert", "sslkey": "sslkey",
              "connectTimeout": "connect_timeout", "ApplicationName": "application_name",
              "applicationName": "application_name", "options": "options", "currentSchema": None,
              "sslpassword": "sslpassword"}


def _pg_connect(url: JdbcUrl, username: str | None, password: str | None):
    psycopg2 = import_driver("psycopg2", "psycopg2-binary")
    kwargs: dict[str, Any] = {"host": url.host, "port": url.port, "dbname": url.database or None,
                              "connect_timeout": CONNECT_TIMEOUT_SECONDS}
    user = username or url.params.get("user")
    secret = password if password is not None else url.params.get("password")
    if user:
        kwargs["user"] = user
    if secret is not None:
        kwargs["password"] = secret
    for jdbc_name, pg_name in _PG_PARAMS.items():
        if jdbc_name in url.params and pg_name:
            kwargs[pg_name] = url.params[jdbc_name]
    if str(url.params.get("ssl", "")).lower() == "true" and "sslmode" not in kwargs:
        kwargs["sslmode"] = "require"
    if url.params.get("currentSchema"):
        kwargs["options"] = f"-c search_path={url.params['currentSchema']}"
    conn = psycopg2.connect(**kwargs)
    conn.autocommit = False
    return conn


def _pg_streaming(conn, sql: str, fetch_size: int):
    """A named (server-side) cursor: rows arrive ``fetch_size`` at a time. Only for queries
    PostgreSQL can DECLARE a cursor for (SELECT, WITH, VALUES, TABLE)."""
    from kestra_dagster.tasks.jdbc._sql import first_keyword

    if first_keyword(sql) not in ("SELECT", "WITH", "VALUES", "TABLE"):
        return None
    cursor = conn.cursor(name=f"kestra_store_{id(conn):x}")
    cursor.itersize = max(1, fetch_size)
    return cursor


def _pg_autocommit(conn) -> None:
    conn.autocommit = True


POSTGRES = Dialect("postgresql", ("postgresql", "postgres"), "%s", False, _pg_connect, _pg_streaming,
                   autocommit=_pg_autocommit)


# ----------------------------------------------------------------------------- MySQL / MariaDB
def _mysql_connect(url: JdbcUrl, username: str | None, password: str | None):
    pymysql = import_driver("pymysql", "PyMySQL")
    kwargs: dict[str, Any] = {"host": url.host, "port": url.port, "database": url.database or None,
                              "connect_timeout": CONNECT_TIMEOUT_SECONDS, "autocommit": False,
                              "charset": url.params.get("characterEncoding", "utf8mb4").replace("UTF-8", "utf8mb4")}
    user = username or url.params.get("user")
    secret = password if password is not None else url.params.get("password")
    if user:
        kwargs["user"] = user
    if secret is not None:
        kwargs["password"] = secret
    if str(url.params.get("allowLoadLocalInfile", url.params.get("allowLocalInfile", ""))).lower() == "true":
        kwargs["local_infile"] = True
    return pymysql.connect(**kwargs)


def _mysql_streaming(conn, sql: str, fetch_size: int):
    import pymysql.cursors

    return conn.cursor(pymysql.cursors.SSCursor)


MYSQL = Dialect("mysql", ("mysql", "mariadb"), "%s", False, _mysql_connect, _mysql_streaming,
                autocommit=lambda conn: conn.autocommit(True))


# ----------------------------------------------------------------------------- SQLite
def _sqlite_connect(url: JdbcUrl, username: str | None, password: str | None):
    import sqlite3

    path = url.path or ":memory:"
    if path != ":memory:":
        from pathlib import Path

        if not Path(path).parent.is_dir():
            raise TaskFailed(f"property 'url': the folder of the SQLite file {path} does not exist")
    # autocommit mode: the task begins its transaction itself, so DDL is rolled back too
    conn = sqlite3.connect(path, timeout=CONNECT_TIMEOUT_SECONDS, isolation_level=None,
                           detect_types=sqlite3.PARSE_DECLTYPES, check_same_thread=False)
    return conn


SQLITE = Dialect("sqlite", ("sqlite",), "?", True, _sqlite_connect, begin=lambda conn: conn.execute("BEGIN"))


# ----------------------------------------------------------------------------- DuckDB
def _duckdb_connect(url: JdbcUrl, username: str | None, password: str | None):
    duckdb = import_driver("duckdb", "duckdb")
    config = {k: v for k, v in url.params.items() if not re.search(r"(?i)token|password", k)}
    return duckdb.connect(url.path or ":memory:", config=config)


_ROW_KEYWORDS = {"SELECT", "WITH", "VALUES", "TABLE", "FROM", "SHOW", "DESCRIBE", "PRAGMA", "EXPLAIN",
                 "SUMMARIZE", "CALL", "PIVOT", "UNPIVOT"}


def _duckdb_has_rows(sql: str) -> bool:
    """DuckDB answers ``CREATE``/``INSERT`` with a result (``Count``); JDBC sees an update count."""
    from kestra_dagster.tasks.jdbc._sql import first_keyword

    return first_keyword(sql) in _ROW_KEYWORDS or bool(re.search(r"(?i)\breturning\b", sql))


class _DuckDbCursor:
    """DuckDB's ``conn.cursor()`` is another connection with its own transaction and settings:
    statements run on the task's connection itself, which this wrapper leaves open."""

    def __init__(self, conn):
        self.conn = conn

    def __getattr__(self, name):
        return getattr(self.conn, name)

    def close(self) -> None:
        pass


DUCKDB = Dialect("duckdb", ("duckdb",), "?", True, _duckdb_connect, has_rows=_duckdb_has_rows,
                 begin=lambda conn: conn.begin(), cursor=_DuckDbCursor)


def describe_error(exc: BaseException) -> str:
    """The driver's own words, first line(s) only, without the driver's class path noise."""
    text = str(exc).strip() or type(exc).__name__
    pgcode = getattr(exc, "pgcode", None)
    if getattr(exc, "args", None) and isinstance(exc.args[0], int) and len(exc.args) > 1:  # PyMySQL (code, msg)
        text = f"{exc.args[1]} (MySQL error {exc.args[0]})"
    if pgcode:
        text = f"{text.splitlines()[0]} (SQLSTATE {pgcode})"
    lines = [line for line in text.splitlines() if line.strip()]
    return " ".join(lines[:3])
