"""Kestra's script plugins: ``io.kestra.plugin.scripts.{shell,python}.{Commands,Script}``."""

import sys

from kestra_dagster.sdk import process as _process
from kestra_dagster.tasks.base import discover_tasks

# The process toolkit moved to the public ``kestra_dagster.sdk.process``; the old private path
# stays importable (same module object) for plugins and branches written against it.
sys.modules[f"{__name__}._process"] = _process

TASKS = discover_tasks(sys.modules[__name__])
