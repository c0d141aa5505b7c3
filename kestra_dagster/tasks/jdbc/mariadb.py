"""``io.kestra.plugin.jdbc.mariadb``: Query, Queries and the polling Trigger, the MySQL family's
behaviour (PyMySQL, ``inputFile``) against ``jdbc:mariadb://host:port/database`` URLs."""

from __future__ import annotations

from typing import ClassVar

from kestra_dagster.tasks.jdbc._base import JdbcQueries, JdbcQuery
from kestra_dagster.tasks.jdbc._trigger import JdbcTrigger
from kestra_dagster.tasks.jdbc.mysql import _MySql


class _MariaDb(_MySql):
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
