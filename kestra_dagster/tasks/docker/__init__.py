"""Docker supply chain: ``io.kestra.plugin.docker.cli.*`` (Build, Push, Tag, Pull, Rm, Run, Compose)
and our digest-pinned ``io.kestra_dagster.plugin.docker.Promote``."""

import sys

from kestra_dagster.sdk import containers as _container
from kestra_dagster.sdk import docker as _common
from kestra_dagster.tasks.base import discover_tasks

# The Docker helpers moved to the public ``kestra_dagster.sdk.docker``/``sdk.containers``; the old
# private paths stay importable (same module objects) for plugins and branches written against them.
sys.modules[f"{__name__}._common"] = _common
sys.modules[f"{__name__}._container"] = _container

TASKS = discover_tasks(sys.modules[__name__])
