"""``io.kestra.plugin.dbt.cli.Run``: ``dbt run`` with the properties of ``_abstract_run``."""

from __future__ import annotations

from typing import ClassVar

from kestra_dagster.tasks.dbt._abstract_run import AbstractRun


class Run(AbstractRun):
    """Run dbt run (build the models) on a project."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.dbt.cli.Run"
    dbt_command: ClassVar[str] = "run"
