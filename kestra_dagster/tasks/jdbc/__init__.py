"""JDBC (``io.kestra.plugin.jdbc.*``): PostgreSQL, MySQL/MariaDB, SQLite and DuckDB Query, Queries
and polling Triggers, plus PostgreSQL's CopyIn/CopyOut, with Kestra's ``fetchType`` outputs."""

import sys

from kestra_dagster.tasks.base import discover_tasks
from kestra_dagster.tasks.jdbc import duckdb, mariadb, mysql, postgresql, sqlite

TASKS = discover_tasks(sys.modules[__name__])
TRIGGERS = [postgresql.Trigger, mysql.Trigger, mariadb.Trigger, sqlite.Trigger, duckdb.Trigger]
