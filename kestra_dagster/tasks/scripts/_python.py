"""What ``python.Commands`` and ``python.Script`` share: Python properties, env, the ``kestra`` helper.

Kestra's Python tasks run in an image that has the ``kestra`` library, so scripts commonly do
``from kestra import Kestra; Kestra.outputs({...})``. A small compatible module (outputs,
counter, timer, gauge, logger: all printed as Kestra's ``::{...}::`` lines, and ``context``) is
put on ``PYTHONPATH`` for every Python task; on import it hands out the real ``kestra`` package
instead whenever the task's own interpreter (this machine's, a venv's, a container's) has it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import ClassVar

from kestra_dagster.tasks.scripts._dependencies import install_dependencies
from kestra_dagster.tasks.scripts._docker_runner import wants_docker
from kestra_dagster.tasks.scripts._exec import HIDDEN_PREFIX, AbstractExecScript

KESTRA_HELPER = r'''"""Stand-in for Kestra's `kestra` Python library (written by kestra-dagster).

When the task's interpreter can import the real `kestra` package, that package is used instead:
this module replaces itself with it on import.
"""
import os as _os
import sys as _sys


def _real_kestra():
    here = _os.path.dirname(_os.path.abspath(__file__))
    saved_path, me = list(_sys.path), _sys.modules.pop(__name__, None)
    _sys.path[:] = [p for p in _sys.path if _os.path.abspath(p or _os.curdir) != here]
    try:
        import importlib

        return importlib.import_module(__name__)
    except ImportError:
        return None
    finally:
        _sys.path[:] = saved_path
        if me is not None and __name__ not in _sys.modules:
            _sys.modules[__name__] = me


_REAL = _real_kestra()
if _REAL is not None:
    _sys.modules[__name__] = _REAL  # the import statement hands out the real package
else:
    import base64
    import json
    import logging
    import time

    class Kestra:
        @staticmethod
        def _send(payload):
            print("::" + json.dumps(payload, default=str) + "::", flush=True)

        @staticmethod
        def format(payload):
            return "::" + json.dumps(payload, default=str) + "::"

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
        def gauge(name, value, tags=None):
            Kestra._metric(name, "gauge", value, tags)

        @staticmethod
        def timer(name, duration, tags=None):
            if callable(duration):  # seconds, as Kestra reads timers
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

    class _Context(dict):
        def __getattr__(self, name):
            if name.startswith("_"):
                raise AttributeError(name)
            try:
                value = self[name]
            except KeyError:
                raise AttributeError(f"'{name}' is not available in the execution context") from None
            return _Context(value) if isinstance(value, dict) else value

    def load_execution_context(path=None):
        path = path or _os.environ.get("KESTRA_EXECUTION_CONTEXT_FILE", ".kestra-execution-context.json")
        if _os.path.exists(path):
            with open(path, encoding="utf-8") as file:
                return _Context(json.load(file))
        encoded = _os.environ.get("KESTRA_CONTEXT")
        if encoded:
            return _Context(json.loads(base64.b64decode(encoded)))
        raise FileNotFoundError("No Kestra execution context found: set executionContext: true on the task")

    def __getattr__(name):
        if name == "context":
            return load_execution_context()
        raise AttributeError(name)
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
    #: Kestra's ``PythonBasedPlugin.DEFAULT_IMAGE``.
    default_image: ClassVar[str | None] = "python:3.13-slim"
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
        in_container = wants_docker(self, ctx)
        if self.pythonVersion and not in_container:
            ctx.logger.debug(f"pythonVersion {self.pythonVersion!r} is ignored by the Process task runner")
        if not in_container:  # an image brings its own `python`
            ensure_python_on_path(workdir, env)
        install_dependencies(ctx, self, workdir, env)  # `dependencies`, see _dependencies.py
        # Always there, whatever the task's interpreter (ours, another, a container's): it hands
        # out the real `kestra` package whenever that interpreter can import it.
        helper_dir = workdir / f"{HIDDEN_PREFIX}python"
        helper_dir.mkdir(exist_ok=True)
        (helper_dir / "kestra.py").write_text(KESTRA_HELPER, encoding="utf-8")
        existing = env.get("PYTHONPATH")
        env["PYTHONPATH"] = f"{existing}{os.pathsep}{helper_dir}" if existing else str(helper_dir)
