"""``io.kestra.plugin.jdbc.mysql``: Query, Queries and the polling Trigger through PyMySQL
(pure Python) against ``jdbc:mysql://host:port/database`` URLs (MariaDB servers too)."""

from __future__ import annotations

from typing import ClassVar

from kestra_dagster.tasks.jdbc._base import JdbcQueries, JdbcQuery
from kestra_dagster.tasks.jdbc._dialect import MYSQL, Dialect
from kestra_dagster.tasks.jdbc._trigger import JdbcTrigger


class _MySql:
    dialect: ClassVar[Dialect] = MYSQL
    kestra_family: ClassVar[str] = "jdbc"
    compute_kind: ClassVar[str | None] = "mysql"


class Query(_MySql, JdbcQuery):
    """Run one SQL statement on MySQL; ``fetchType`` keeps its rows (row, rows or an ION file)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.mysql.Query"


class Queries(_MySql, JdbcQueries):
    """Run several SQL statements on MySQL in one transaction; one output per result set."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.mysql.Queries"


class Trigger(JdbcTrigger):
    """Poll MySQL with ``sql``; one execution per new row set (trigger.rows/row/uri, size)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.jdbc.mysql.Trigger"
    query_class: ClassVar[type] = Query
