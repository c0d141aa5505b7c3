"""Kestra's script plugins: ``io.kestra.plugin.scripts.{shell,python,node}.{Commands,Script}``."""

import sys

from kestra_dagster.sdk import process as _process
from kestra_dagster.tasks.base import discover_tasks

# The process toolkit moved to the public ``kestra_dagster.sdk.process``; the old private path
# stays importable (same module object) for plugins and branches written against it.
sys.modules[f"{__name__}._process"] = _process

TASKS = discover_tasks(sys.modules[__name__])

#: The task runners script tasks can use (every Kestra spelling → today's name); checked at validate time.
TASK_RUNNERS = {
    "io.kestra.plugin.core.runner.Process": "io.kestra.plugin.core.runner.Process",
    "io.kestra.plugin.scripts.runner.process.Process": "io.kestra.plugin.core.runner.Process",
    "io.kestra.core.models.tasks.runners.types.ProcessTaskRunner": "io.kestra.plugin.core.runner.Process",
    "io.kestra.plugin.scripts.runner.docker.Docker": "io.kestra.plugin.scripts.runner.docker.Docker",
    "io.kestra.plugin.scripts.runner.docker.DockerTaskRunner": "io.kestra.plugin.scripts.runner.docker.Docker",
    "io.kestra.core.models.tasks.runners.types.DockerTaskRunner": "io.kestra.plugin.scripts.runner.docker.Docker",
}
