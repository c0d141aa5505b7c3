"""A throwaway Dagster deployment for trigger tests and benchmarks: instance, daemon, intake.

``LocalDeployment(tmp_dir, flows_dir)`` writes a ``dagster.yaml`` (SQLite unless ``settings`` say
otherwise, DefaultRunCoordinator, threaded sensors) and a ``workspace.yaml`` loading ``kestra_dagster.definitions`` on
``flows_dir``; ``start_daemon()`` / ``start_intake()`` start real processes, each in its own
session so ``stop()`` (or ``kill()``, SIGKILL) ends the process and its children, and nothing
outlives the deployment (``close()``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_error!r})" if last_error else ""))


def group_alive(pgid: int) -> bool:
    """Whether any process of process group ``pgid`` is left."""
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a foreign process reused the id
        return False


class LocalDeployment:
    def __init__(self, root: Path, flows_dir: Path, queued_runs_only: bool = False, env: dict[str, str] | None = None,
                 sensor_loop_seconds: float = 0.5, settings: dict[str, Any] | None = None):
        """``settings``: more ``dagster.yaml`` entries (e.g. ``storage`` for PostgreSQL)."""
        self.root = Path(root)
        self.flows_dir = Path(flows_dir)
        self.home = self.root / "dagster_home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.storage = self.root / "storage"
        self.logs = self.root / "logs"
        self.logs.mkdir(exist_ok=True)
        config: dict[str, Any] = {
            "telemetry": {"enabled": False},
            "nux": {"enabled": False},
            "sensors": {"use_threads": True, "num_workers": 4},
            "schedules": {"use_threads": True, "num_workers": 2},
        }
        if queued_runs_only:
            # Runs are created (so run keys deduplicate) but never started: cheap load tests.
            config["run_coordinator"] = {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator",
                                         "config": {"max_concurrent_runs": 0}}
        else:
            config["run_coordinator"] = {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}
        config.update(settings or {})
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(config))
        self.workspace = self.root / "workspace.yaml"
        self.workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": {
            "module_name": "kestra_dagster.definitions", "location_name": "kestra_flows"}}]}))
        self.env = {**os.environ, "DAGSTER_HOME": str(self.home), "KESTRA_FLOWS_DIR": str(self.flows_dir),
                    "KESTRA_STORAGE_PATH": str(self.storage), "KESTRA_SENSOR_LOOP_SECONDS": str(sensor_loop_seconds),
                    "PYTHONUNBUFFERED": "1", **(env or {})}
        self.processes: dict[str, subprocess.Popen] = {}
        self._instance = None

    # ------------------------------------------------------------------ instance
    @property
    def instance(self):
        if self._instance is None:
            from dagster import DagsterInstance
            from dagster._core.instance.ref import InstanceRef

            self._instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(self.home)))
        return self._instance

    # ------------------------------------------------------------------ processes
    def _start(self, name: str, argv: list[str], stdin_data: bytes | None = None) -> subprocess.Popen:
        # Create the SQLite databases here first: processes creating them at the same time race
        # on alembic's version table ("more than one head").
        _ = self.instance.run_storage
        from kestra_dagster.triggers.store import DeliveryStore

        DeliveryStore(self.instance)
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(self.root),
                                start_new_session=True,
                                stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL)
        log.close()
        if stdin_data is not None:
            proc.stdin.write(stdin_data)
            proc.stdin.close()
        self.processes[name] = proc
        return proc

    def start_daemon(self) -> subprocess.Popen:
        return self._start("daemon", [sys.executable, "-m", "kestra_dagster.triggers.daemon", "run",
                                      "-w", str(self.workspace)])

    def start_intake(self, port: int | None = None, extra_args: list[str] | None = None,
                     proxy_secret: str | None = None) -> str:
        """``proxy_secret``: given on stdin (``--proxy-secret-stdin``), as ``server standalone`` does."""
        port = port or free_port()
        extra = [*(extra_args or []), *(["--proxy-secret-stdin"] if proxy_secret else [])]
        self._start("intake", [sys.executable, "-m", "kestra_dagster.cli", "server", "webhooks", "--host", "127.0.0.1",
                               "--port", str(port), "--flows-dir", str(self.flows_dir), *extra],
                    stdin_data=(proxy_secret + "\n").encode() if proxy_secret else None)
        url = f"http://127.0.0.1:{port}"
        import httpx

        wait_until(lambda: httpx.get(f"{url}/health", timeout=1).status_code == 200, 30, what="the intake")
        return url

    def log_text(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal the process's whole group, then SIGKILL whatever is left of it after 10 s.

        The group outlives its leader: the daemon's code server and run workers may still be
        finishing (or waiting on a database that is gone) when the daemon itself has exited.
        """
        proc = self.processes.pop(name, None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10  # SIGKILLed members still need reaping
            while group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        proc.wait(10)

    def stop(self, name: str) -> None:
        self.kill(name, signal.SIGTERM)

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None

    # ------------------------------------------------------------------ runs
    def runs(self, tags: dict[str, Any] | None = None, job_name: str | None = None) -> list:
        from dagster import RunsFilter

        return list(self.instance.get_runs(filters=RunsFilter(tags=tags or {}, job_name=job_name)))

    def wait_for_runs(self, timeout: float, count: int = 1, finished: bool = False, **filters) -> list:
        from dagster import DagsterRunStatus

        done = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}

        def check():
            runs = self.runs(**filters)
            if finished:
                runs = [r for r in runs if r.status in done]
            return runs if len(runs) >= count else None

        return wait_until(check, timeout, interval=0.3, what=f"{count} run(s) {filters}")

    def __enter__(self) -> "LocalDeployment":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
