"""``io.kestra.plugin.dbt.cli.Build``: ``dbt build`` with the properties of ``_abstract_run``."""

from __future__ import annotations

from typing import ClassVar

from kestra_dagster.tasks.dbt._abstract_run import AbstractRun


class Build(AbstractRun):
    """Run dbt build (seeds, models, snapshots, tests in DAG order) on a project."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.dbt.cli.Build"
    dbt_command: ClassVar[str] = "build"
