"""Trivy: Kestra's ``io.kestra.plugin.trivy.cli.TrivyCLI`` and our gate ``io.kestra_dagster.plugin.trivy.Scan``."""

from kestra_dagster.tasks.base import lazy_family_tasks

__getattr__ = lazy_family_tasks(__name__)  # TASKS, discovered on first use
