"""``io.kestra.plugin.jdbc.duckdb``: Query, Queries and the polling Trigger through the duckdb
package. ``inputFiles`` land in the working directory, which is DuckDB's ``file_search_path``
(``read_csv_auto('data.csv')`` or ``'{{ workingDir }}/data.csv'``); ``outputFiles`` names are
paths to write (``COPY t TO '{{ outputFiles.out }}'``) uploaded afterwards; ``databaseUri`` loads
a database file from internal storage and ``outputDbFile`` stores it back."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.tasks.jdbc._dialect import DUCKDB, Dialect
from kestra_dagster.tasks.jdbc._embedded import EmbeddedFiles, EmbeddedQueries
from kestra_dagster.tasks.jdbc._trigger import JdbcTrigger


class _DuckDb:
    dialect: ClassVar[Dialect] = DUCKDB
    kestra_family: ClassVar[str] = "jdbc"
    compute_kind: ClassVar[str | None] = "duckdb"
    url_scheme: ClassVar[str] = "duckdb"
    database_prop: ClassVar[str] = "databaseUri"

    databaseUri: str | None = None
    #: Kestra loads these community extensions best-effort; offline workers skip them (logged)
    communityExtensions: list[str] | None = None

    def prepare_connection(self, ctx, conn, extra: dict[str, Any]) -> None:
        workdir = str(extra.get("workingDir") or ctx.working_dir).replace("'", "''")
        conn.execute(f"SET file_search_path='{workdir}'")
        for extension in ctx.render(self.communityExtensions, "communityExtensions") or []:
            try:
                conn.execute(f"LOAD {extension}")
            except Exception as exc:  # noqa: BLE001 - best effort, as Kestra
                ctx.logger.warning(f"DuckDB extension {extension!r} is not available: {exc}")


class Query(_DuckDb, EmbeddedFiles):
    """Run one SQL statement on DuckDB with working-directory files; ``fetchType`` keeps its rows."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.duckdb.Query"


class Queries(_DuckDb, EmbeddedQueries):
    """Run several SQL statements on DuckDB in one transaction; one output per result set."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.duckdb.Queries"


class Trigger(JdbcTrigger):
    """Poll DuckDB with ``sql``; one execution per new row set (trigger.rows/row/uri, size)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.duckdb.Trigger"
    query_class: ClassVar[type] = Query
