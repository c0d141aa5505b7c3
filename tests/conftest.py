"""Suite-wide fixtures: isolated storage and Dagster home per test, the shared corpus location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_shared() -> Path:
    """The reference corpus beside the repo; skip outside CI when it is absent, fail in CI."""
    if not SHARED.is_dir():
        if IN_CI:
            pytest.fail(f"{SHARED} is missing: CI must have ../shared beside the checkout")
        pytest.skip(f"{SHARED} is absent (reference corpus lives beside the repository)")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_storage(tmp_path_factory, monkeypatch):
    """Each test writes its kestra:// files and KV under its own temporary directory."""
    base = tmp_path_factory.mktemp("kestra-storage")
    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(base))
    yield
