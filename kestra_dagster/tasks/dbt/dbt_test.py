"""``io.kestra.plugin.dbt.cli.Test``: ``dbt test`` with the properties of ``_abstract_run``."""

from __future__ import annotations

from typing import ClassVar

from kestra_dagster.tasks.dbt._abstract_run import AbstractRun


class Test(AbstractRun):
    """Run dbt test (data tests) on a project."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.dbt.cli.Test"
    dbt_command: ClassVar[str] = "test"
