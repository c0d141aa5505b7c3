"""A small dbt project (``jaffle/``: a seed, two models, two tests) published as namespace files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kd_testing import unavailable

PROJECT = Path(__file__).parent / "jaffle"


@pytest.fixture(autouse=True)
def _dbt_installed():
    from kestra_dagster.tasks.dbt._common import dbt_bin_dir

    if dbt_bin_dir() is None:
        unavailable("dbt is not installed (the test extra: dbt-core, dbt-duckdb, dbt-postgres)")


@pytest.fixture
def namespace_files(tmp_path, monkeypatch) -> Path:
    """``company.team``'s namespace files hold the project under ``dbt/``."""
    root = tmp_path / "nsfiles"
    shutil.copytree(PROJECT, root / "company.team" / "dbt")
    monkeypatch.setenv("KESTRA_NAMESPACE_FILES_DIR", str(root))
    return root / "company.team" / "dbt"
