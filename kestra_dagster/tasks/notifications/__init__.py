"""Kestra's notifications plugin: ``io.kestra.plugin.notifications.*`` (incoming webhooks, mail)."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
