"""Kestra's script plugins: ``io.kestra.plugin.scripts.{shell,python}.{Commands,Script}``."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
