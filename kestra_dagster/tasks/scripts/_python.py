"""What ``python.Commands`` and ``python.Script`` share: Python properties, env, the ``kestra`` helper.

Kestra's Python tasks run in an image that has the ``kestra`` library, so scripts commonly do
``from kestra import Kestra; Kestra.outputs({...})``. When no ``kestra`` package is installed
here, a small compatible module (outputs, counter, timer, logger: all printed as Kestra's
``::{...}::`` lines) is put on ``PYTHONPATH`` for the task.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import ClassVar

from kestra_dagster.tasks.scripts._dependencies import install_dependencies
from kestra_dagster.tasks.scripts._exec import HIDDEN_PREFIX, AbstractExecScript

KESTRA_HELPER = '''"""Minimal stand-in for Kestra's `kestra` Python library (written by kestra-dagster)."""
import json
import logging
import time


class Kestra:
    @staticmethod
    def _send(payload):
        print("::" + json.dumps(payload, default=str) + "::", flush=True)

    @staticmethod
    def outputs(values):
        Kestra._send({"outputs": values})

    @staticmethod
    def _metric(name, kind, value, tags=None):
        Kestra._send({"metrics": [{"name": name, "type": kind, "value": value, "tags": tags or {}}]})

    @staticmethod
    def counter(name, value, tags=None):
        Kestra._metric(name, "counter", value, tags)

    @staticmethod
    def timer(name, duration, tags=None):
        if callable(duration):
            start = time.perf_counter()
            duration()
            duration = time.perf_counter() - start
        Kestra._metric(name, "timer", duration, tags)

    @staticmethod
    def logger():
        logger = logging.getLogger("Kestra")
        if not any(isinstance(h, _KestraHandler) for h in logger.handlers):
            logger.addHandler(_KestraHandler())
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
        return logger


class _KestraHandler(logging.Handler):
    _LEVELS = {"WARNING": "WARN", "CRITICAL": "ERROR"}

    def emit(self, record):
        level = self._LEVELS.get(record.levelname, record.levelname)
        Kestra._send({"logs": [{"level": level, "message": self.format(record)}]})
'''


def ensure_python_on_path(workdir: Path, env: dict[str, str]) -> None:
    """Make ``python`` resolvable, as in Kestra's Python images: link it to ``python3`` (or to the
    interpreter running us) in a helper folder put first on PATH when the PATH has none."""
    path = env.get("PATH", "")
    if shutil.which("python", path=path):
        return
    target = shutil.which("python3", path=path) or sys.executable
    bin_dir = workdir / f"{HIDDEN_PREFIX}python" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    link = bin_dir / "python"
    if not link.exists():
        link.symlink_to(target)
    env["PATH"] = f"{bin_dir}{os.pathsep}{path}" if path else str(bin_dir)


class AbstractPythonExecScript(AbstractExecScript):
    compute_kind: ClassVar[str | None] = "python"
    default_env: ClassVar[dict[str, str]] = {
        "PYTHONUNBUFFERED": "true",
        "PIP_ROOT_USER_ACTION": "ignore",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }

    dependencies: list[str] | str | None = None
    pythonVersion: str | None = None
    packageManager: str | None = None  # UV | PIP
    dependencyCacheEnabled: bool | str = True

    def prepare(self, ctx, workdir: Path, env: dict[str, str]) -> None:
        if self.pythonVersion:
            ctx.logger.debug(f"pythonVersion {self.pythonVersion!r} is ignored by the Process task runner")
        ensure_python_on_path(workdir, env)
        install_dependencies(ctx, self, workdir, env)  # `dependencies`, see _dependencies.py
        if importlib.util.find_spec("kestra") is None:
            helper_dir = workdir / f"{HIDDEN_PREFIX}python"
            helper_dir.mkdir(exist_ok=True)
            (helper_dir / "kestra.py").write_text(KESTRA_HELPER, encoding="utf-8")
            existing = env.get("PYTHONPATH")
            env["PYTHONPATH"] = f"{existing}{os.pathsep}{helper_dir}" if existing else str(helper_dir)
