"""Kestra's core plugin family: ``io.kestra.plugin.core.*`` tasks (log, debug, flow, http, kv…)."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
