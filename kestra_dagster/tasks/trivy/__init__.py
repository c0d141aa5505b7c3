"""Trivy: Kestra's ``io.kestra.plugin.trivy.cli.TrivyCLI`` and our gate ``io.kestra_dagster.plugin.trivy.Scan``."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
