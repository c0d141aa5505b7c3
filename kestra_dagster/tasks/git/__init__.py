"""Kestra's Git plugin: ``io.kestra.plugin.git.Clone`` and ``Push``, on the ``git`` command line."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
