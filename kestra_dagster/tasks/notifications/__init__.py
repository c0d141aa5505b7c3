"""Kestra's notifications plugin: ``io.kestra.plugin.notifications.*`` (incoming webhooks, mail)."""

from kestra_dagster.tasks.base import lazy_family_tasks

__getattr__ = lazy_family_tasks(__name__)  # TASKS, discovered on first use
