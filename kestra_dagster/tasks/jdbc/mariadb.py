"""``io.kestra.plugin.jdbc.mariadb``: Query, Queries and the polling Trigger through PyMySQL
against ``jdbc:mariadb://host:port/database`` URLs (``jdbc:mysql://`` works too)."""

from __future__ import annotations

from typing import ClassVar

from kestra_dagster.tasks.jdbc._base import JdbcQueries, JdbcQuery
from kestra_dagster.tasks.jdbc._dialect import MYSQL, Dialect
from kestra_dagster.tasks.jdbc._trigger import JdbcTrigger


class _MariaDb:
    dialect: ClassVar[Dialect] = MYSQL
    kestra_family: ClassVar[str] = "jdbc"
    compute_kind: ClassVar[str | None] = "mariadb"


class Query(_MariaDb, JdbcQuery):
    """Run one SQL statement on MariaDB; ``fetchType`` keeps its rows (row, rows or an ION file)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.mariadb.Query"


class Queries(_MariaDb, JdbcQueries):
    """Run several SQL statements on MariaDB in one transaction; one output per result set."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.mariadb.Queries"


class Trigger(JdbcTrigger):
    """Poll MariaDB with ``sql``; one execution per new row set (trigger.rows/row/uri, size)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.mariadb.Trigger"
    query_class: ClassVar[type] = Query
