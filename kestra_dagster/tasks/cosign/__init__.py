"""Cosign-compatible signing of image digests: ``io.kestra_dagster.plugin.cosign.Sign`` / ``Verify``."""

from kestra_dagster.tasks.base import lazy_family_tasks

__getattr__ = lazy_family_tasks(__name__)  # TASKS, discovered on first use
