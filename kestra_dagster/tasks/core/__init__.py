"""Kestra's core plugin family: ``io.kestra.plugin.core.*`` tasks (log, debug, flow, http, kv…)."""

from kestra_dagster.tasks.base import lazy_family_tasks

__getattr__ = lazy_family_tasks(__name__)  # TASKS, discovered on first use
