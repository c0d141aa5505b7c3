"""Cosign-compatible signing of image digests: ``io.kestra_dagster.plugin.cosign.Sign`` / ``Verify``."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
