"""``io.kestra.plugin.jdbc.sqlite``: Query, Queries and the polling Trigger through Python's
sqlite3. ``url`` is ``jdbc:sqlite:<file>`` (relative to the working directory) or the in-memory
default; ``sqliteFile`` loads a database from internal storage and ``outputDbFile`` stores it back."""

from __future__ import annotations

from typing import ClassVar

from kestra_dagster.tasks.jdbc._dialect import SQLITE, Dialect
from kestra_dagster.tasks.jdbc._embedded import EmbeddedFiles, EmbeddedQueries
from kestra_dagster.tasks.jdbc._trigger import JdbcTrigger


class _Sqlite:
    dialect: ClassVar[Dialect] = SQLITE
    kestra_family: ClassVar[str] = "jdbc"
    compute_kind: ClassVar[str | None] = "sqlite"
    url_scheme: ClassVar[str] = "sqlite"
    database_prop: ClassVar[str] = "sqliteFile"

    sqliteFile: str | None = None


class Query(_Sqlite, EmbeddedFiles):
    """Run one SQL statement on SQLite; ``fetchType`` keeps its rows (row, rows or an ION file)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.sqlite.Query"


class Queries(_Sqlite, EmbeddedQueries):
    """Run several SQL statements on SQLite in one transaction; one output per result set."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.sqlite.Queries"


class Trigger(JdbcTrigger):
    """Poll a SQLite file with ``sql``; one execution per new row set (trigger.rows/row/uri, size)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.sqlite.Trigger"
    query_class: ClassVar[type] = Query
