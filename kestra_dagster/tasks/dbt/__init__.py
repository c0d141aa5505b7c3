"""dbt: ``io.kestra.plugin.dbt.cli.DbtCLI`` and the older ``Build``/``Run``/``Test``/``Setup``, run
with the real ``dbt`` command (dbt-core and its adapters from PyPI) on the scripts' task runner."""

import sys

from kestra_dagster.tasks.base import discover_tasks

TASKS = discover_tasks(sys.modules[__name__])
