"""dbt: ``io.kestra.plugin.dbt.cli.DbtCLI`` and the older ``Build``/``Run``/``Test``/``Setup``, run
with the real ``dbt`` command (dbt-core and its adapters from PyPI) on the scripts' task runner."""

from kestra_dagster.tasks.base import lazy_family_tasks

__getattr__ = lazy_family_tasks(__name__)  # TASKS, discovered on first use
