"""Serdes (``io.kestra.plugin.serdes.*``): CSV, JSON Lines, Avro, Parquet and Excel to and from
ION, Kestra's row format in internal storage, streamed row by row."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
