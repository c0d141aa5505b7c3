"""Python ``dependencies`` of ``python.Script``/``python.Commands``: installed once per flow, cached.

Kestra installs ``dependencies`` with uv (or pip) into a cached virtual environment. Here they are
installed with ``uv pip install --target`` (when uv is found: on the task's PATH, as the ``uv``
Python package beside kestra-dagster, or next to its python; and ``packageManager`` is not ``PIP``)
or ``<python> -m pip install --target`` into a folder that is put first on the task's
``PYTHONPATH``, using the python the task will run. uv is several times faster; pip is the fallback.

Both read the machine's package index settings, so an offline machine with a local index or wheel
folder works with either: pip reads ``pip.conf`` and ``PIP_*`` itself; uv does not, so unless uv
has index settings of its own (``UV_INDEX_URL``, ``UV_DEFAULT_INDEX``, ``UV_INDEX``,
``UV_EXTRA_INDEX_URL``, ``UV_FIND_LINKS``, ``UV_NO_INDEX``) pip's effective ``index-url``,
``extra-index-url``, ``find-links``, ``no-index`` and ``constraint`` (``pip config list``) are
passed to uv: index URLs, which may hold credentials, in uv's environment variables (never on a
command line that ``ps`` shows), the rest as the same options.

With ``dependencyCacheEnabled`` (default true) the folder is kept under
``$KESTRA_PYTHON_DEPS_CACHE`` (else ``$DAGSTER_HOME/cache/python-deps``, else
``~/.cache/kestra-dagster/python-deps``) as ``<namespace>/<flow id>-<hash>``, the hash covering the
requirement list, the python version and the installer: the next run of the flow reuses it. A
lock serialises concurrent installs of the same folder; a failed install leaves nothing behind.
"""

from __future__ import annotations

import ast
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from kestra_dagster.errors import TaskFailed, TaskKilled

CACHE_ENV = "KESTRA_PYTHON_DEPS_CACHE"
COMPLETE_MARKER = ".kestra-deps-complete"
#: An install that takes longer than this is stopped (the task's own timeout still applies).
INSTALL_TIMEOUT = 1800


def cache_root() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return Path(home).expanduser() / "cache" / "python-deps"
    return Path.home() / ".cache" / "kestra-dagster" / "python-deps"


_PROBE = "import sys, importlib.util; print(sys.executable); print('%d.%d' % sys.version_info[:2]); " \
         "print(importlib.util.find_spec('pip') is not None)"


def _probe(python: str) -> tuple[str, str, bool]:
    """(real executable, "3.11", has pip) of ``python``: one call (shims such as pyenv's are slow)."""
    try:
        out = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=60).stdout.split()
        if len(out) == 3:
            return out[0], out[1], out[2] == "True"
    except (OSError, subprocess.TimeoutExpired):
        pass
    return python, "unknown", False


UV_INDEX_SETTINGS = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_NO_INDEX")
#: pip setting → uv option (paths), or uv variable (index URLs, which may carry credentials); several
#: values are separated by white space in pip's settings and in these uv variables.
_PIP_TO_UV_OPTION = {"find-links": "--find-links", "constraint": "--constraint"}
_PIP_TO_UV_ENV = {"index-url": "UV_INDEX_URL", "extra-index-url": "UV_EXTRA_INDEX_URL"}

def find_uv(path: str | None) -> str | None:
    """uv on ``path``, else the ``uv`` package installed beside us, else a ``uv`` next to our python."""
    found = shutil.which("uv", path=path)
    if found:
        return found
    try:
        from uv import find_uv_bin  # the PyPI wheel ships the binary and this helper

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def pip_index_settings(env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """pip's effective index settings (``pip config list``: environment over [install] over [global])
    as (uv options, uv environment variables); nothing when uv has index settings of its own or pip
    cannot be asked."""
    if any(env.get(name) for name in UV_INDEX_SETTINGS):
        return [], {}
    try:
        listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], env=env, capture_output=True,
                                text=True, timeout=60, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.TimeoutExpired):
        return [], {}
    ranked: dict[str, tuple[int, str]] = {}
    rank = {":env:": 3, "install": 2, "global": 1}
    for line in listed.splitlines():
        key, sep, raw = line.partition("=")
        section, _, name = key.rpartition(".")
        if not sep or section not in rank:
            continue
        try:
            value = str(ast.literal_eval(raw))
        except (ValueError, SyntaxError):
            value = raw.strip("'\"")
        if rank[section] >= ranked.get(name, (0, ""))[0]:
            ranked[name] = (rank[section], value)
    settings = {name: value for name, (_, value) in ranked.items()}
    options: list[str] = []
    if settings.get("no-index", "").strip().lower() in ("1", "true", "yes", "on"):
        options.append("--no-index")
    for name, flag in _PIP_TO_UV_OPTION.items():
        for value in settings.get(name, "").split():
            options += [flag, value]
    variables = {var: " ".join(settings[name].split()) for name, var in _PIP_TO_UV_ENV.items() if settings.get(name, "").strip()}
    return options, variables

def _installer(ctx, python: str, has_pip: bool, package_manager: str | None, env: dict[str, str]) -> tuple[str, list[str]]:
    """(name, command prefix before ``--target``) for installing into a folder."""
    wanted = (package_manager or "UV").strip().upper()
    if wanted not in ("UV", "PIP"):
        raise TaskFailed(f"property 'packageManager' must be UV or PIP, got {package_manager!r}")
    uv = find_uv(env.get("PATH")) if wanted == "UV" else None
    if uv:
        return "uv", [uv, "pip", "install", "--quiet", "--python", python]
    if package_manager and wanted == "UV":
        ctx.logger.warning("packageManager UV: uv is not installed (pip install uv), installing with pip")
    pip_python = python if has_pip else sys.executable
    return "pip", [pip_python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"]


def install_dependencies(ctx, task, workdir: Path, env: dict[str, str]) -> None:
    """Install ``task.dependencies`` (if any) and put them first on ``env['PYTHONPATH']``."""
    from kestra_dagster.tasks.scripts._exec import HIDDEN_PREFIX, as_list

    if task.dependencies is None:
        return
    requirements = [r.strip() for r in as_list(ctx.render(task.dependencies, "dependencies"), "dependencies") if r and r.strip()]
    if not requirements:
        return
    python = shutil.which("python", path=env.get("PATH")) or shutil.which("python3", path=env.get("PATH")) or sys.executable
    python, version, has_pip = _probe(python)
    manager = ctx.render_str(task.packageManager, prop="packageManager") if task.packageManager else None
    name, command = _installer(ctx, python, has_pip, manager, env)
    cached = ctx.render_bool(task.dependencyCacheEnabled, "dependencyCacheEnabled")
    from kestra_dagster.tasks.scripts._docker_runner import wants_docker

    if cached and wants_docker(task, ctx):
        # the cache lives on this machine, outside the container: install into the working
        # directory instead (bind-mounted at the same path), with this machine's installer
        ctx.logger.debug("python dependencies: installed in the working directory for the container")
        cached = False
    if cached:
        key = hashlib.sha256("\n".join([name, version, *sorted(requirements)]).encode()).hexdigest()[:16]
        target = cache_root() / ctx.namespace / f"{ctx.flow_id}-{key}"
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.parent / f".{target.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if (target / COMPLETE_MARKER).exists():
                    ctx.logger.debug(f"python dependencies: using the cached environment {target}")
                else:
                    _install(ctx, name, command, requirements, target, env)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    else:
        target = workdir / f"{HIDDEN_PREFIX}python-deps"
        _install(ctx, name, command, requirements, target, env)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{target}{os.pathsep}{existing}" if existing else str(target)
    bin_dir = target / "bin"
    if bin_dir.is_dir():  # console scripts of the installed packages
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"


def _install(ctx, name: str, command: list[str], requirements: list[str], target: Path, env: dict[str, str]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    ctx.logger.info(f"Installing python dependencies with {name}: {', '.join(requirements)}")
    install_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    options: list[str] = []
    if name == "uv":
        options, variables = pip_index_settings(install_env)
        install_env.update(variables)
    proc = subprocess.Popen([*command, *options, "--target", str(staging), *requirements], env=install_env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: dict[str, str] = {}
    reader = threading.Thread(target=lambda: output.setdefault("text", proc.communicate()[0] or ""), daemon=True)
    reader.start()
    waited = 0.0
    try:
        while reader.is_alive():
            reader.join(0.1)
            waited += 0.1
            if ctx.cancel_event.is_set() or waited > INSTALL_TIMEOUT:
                os.killpg(proc.pid, 9)
                reader.join(5)
                if ctx.cancel_event.is_set():
                    raise TaskKilled(f"task '{ctx.task_id}' was stopped while installing python dependencies")
                raise TaskFailed(f"installing python dependencies took more than {INSTALL_TIMEOUT}s")
        if proc.returncode != 0:
            lines = [line for line in output.get("text", "").splitlines() if line.strip()]
            detail = ctx.mask("\n".join(lines[-8:]))
            raise TaskFailed(
                f"cannot install python dependencies {requirements} with {name} (exit code {proc.returncode}); "
                f"check the names and the package index settings (pip.conf, PIP_INDEX_URL, PIP_FIND_LINKS, UV_*):\n{detail}"
            )
        (staging / COMPLETE_MARKER).write_text("\n".join(requirements) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
