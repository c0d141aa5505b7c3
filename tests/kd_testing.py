"""Facts every test module may import (``import kd_testing``): repository paths and CI rules.

Test modules import this rather than ``conftest`` (several directories have a conftest.py, and
which one ``import conftest`` finds depends on collection order).
"""

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
