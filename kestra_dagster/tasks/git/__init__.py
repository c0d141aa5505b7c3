"""Kestra's Git plugin: ``io.kestra.plugin.git.Clone`` and ``Push``, on the ``git`` command line."""

from kestra_dagster.tasks.base import lazy_family_tasks

__getattr__ = lazy_family_tasks(__name__)  # TASKS, discovered on first use
