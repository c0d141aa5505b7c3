"""Docker supply chain: ``io.kestra.plugin.docker.cli.*`` (Build, Push, Tag, Pull, Rm, Run, Compose)
and our digest-pinned ``io.kestra_dagster.plugin.docker.Promote``."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
