"""Serdes (``io.kestra.plugin.serdes.*``): CSV, JSON Lines, Avro, Parquet and Excel to and from
ION, Kestra's row format in internal storage, streamed row by row."""

from kestra_dagster.tasks.base import lazy_family_tasks

__getattr__ = lazy_family_tasks(__name__)  # TASKS, discovered on first use
