"""Test helpers: run tasks without Dagster, or a throwaway Dagster deployment.

**Without Dagster** (milliseconds, like Dagster's ``build_op_context``):
``build_task_context(base_dir)`` is the ``TaskContext`` a task's ``run(ctx)`` receives, with a
local internal storage, a SQLite KV store, a recording logger and the real expression engine;
``run_tasks(flow_yaml, base_dir)`` runs a flow's ``tasks``/``errors``/``finally`` through the
engine's ``Runner`` (Kestra's states, retries, timeouts, flowable tasks, outputs), which is what
each Dagster op runs. Keep ``execute_in_process`` for what the compiler adds (ops, steps, run
tags, gates, subflows).

**A deployment** (seconds, for trigger tests and benchmarks):
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
        from kestra_dagster.compat import run_coordinator

        if queued_runs_only:
            # Runs are created (so run keys deduplicate) but never started: cheap load tests.
            config["run_coordinator"] = run_coordinator("QueuedRunCoordinator", max_concurrent_runs=0)
        else:
            config["run_coordinator"] = run_coordinator()
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
            from kestra_dagster.compat import instance_from_dir

            self._instance = instance_from_dir(str(self.home))
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


# ----------------------------------------------------------------------------- without Dagster
class RecordingLogger:
    """A ``TaskLogger`` that keeps ``(level, message)`` pairs for assertions."""

    def __init__(self, prefix: str = "") -> None:
        import threading

        self.prefix = prefix
        self.records: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _add(self, level: str, message: str) -> None:
        with self._lock:
            self.records.append((level, f"{self.prefix}{message}"))

    def debug(self, message: str) -> None:
        self._add("DEBUG", message)

    def info(self, message: str) -> None:
        self._add("INFO", message)

    def warning(self, message: str) -> None:
        self._add("WARNING", message)

    def error(self, message: str) -> None:
        self._add("ERROR", message)

    def messages(self, level: str | None = None) -> list[str]:
        with self._lock:
            return [m for lvl, m in self.records if level is None or lvl == level]


def build_task_context(base_dir: str | os.PathLike, task_id: str = "t", *, namespace: str = "company.team",
                       flow_id: str = "flow", execution_id: str = "exec1", variables: dict | None = None,
                       **overrides: Any):
    """The ``TaskContext`` of one task run, built from plain parts under ``base_dir``.

    ``variables`` are merged over ``flow``/``execution``; properties render with the real
    expression engine (``secret()`` reads ``SECRET_*`` environment variables as at run time).
    ``ctx.logger`` is a :class:`RecordingLogger`. Any ``TaskContext`` field may be overridden.
    """
    from kestra_dagster.engine.context import TaskContext, TaskRunInfo
    from kestra_dagster.engine.kv import SQLiteKV
    from kestra_dagster.engine.storage import LocalStorage
    from kestra_dagster.expressions import SecretResolver, render_value

    base = Path(base_dir)
    working_dir = Path(overrides.pop("working_dir", None) or base / "work" / task_id)
    working_dir.mkdir(parents=True, exist_ok=True)
    taskrun = TaskRunInfo(id=f"{task_id}-run", task_id=task_id, start_date="2024-01-01T00:00:00Z")
    all_vars = {"flow": {"id": flow_id, "namespace": namespace, "revision": 1},
                "execution": {"id": execution_id, "startDate": taskrun.start_date, "state": "RUNNING"},
                "taskrun": taskrun.as_variable(), "__secrets__": SecretResolver()}
    all_vars.update(variables or {})
    fields: dict[str, Any] = dict(
        task_id=task_id, task_type="test", variables=all_vars, logger=RecordingLogger(), working_dir=working_dir,
        storage=LocalStorage(base / "storage").for_task(namespace, flow_id, execution_id, task_id, taskrun.id),
        kv=SQLiteKV(base / "kv.sqlite"), namespace=namespace, flow_id=flow_id, execution_id=execution_id,
        taskrun=taskrun, renderer=render_value,
    )
    fields.update(overrides)
    return TaskContext(**fields)


class TaskRunsResult:
    """What :func:`run_tasks` ran: the list's final ``state``, the ``execution`` (outputs, task runs) and logs."""

    def __init__(self, state: str, execution: Any, loggers: dict[str, RecordingLogger]):
        self.state = state
        self.execution = execution
        self.loggers = loggers

    @property
    def outputs(self) -> dict[str, Any]:
        return self.execution.outputs

    def states(self) -> dict[str, str]:
        """Task id (``id[value]`` inside loops) → its last state."""
        return {r.task_id + "".join(f"[{v}]" for v in r.values): r.state for r in self.execution.task_runs}

    def messages(self, level: str | None = None) -> list[str]:
        return [m for log in self.loggers.values() for m in log.messages(level)]


def run_tasks(flow: str | Any, base_dir: str | os.PathLike, inputs: dict | None = None) -> TaskRunsResult:
    """Run a flow's ``tasks`` (then ``errors``/``finally``) through the Dagster-free ``Runner``.

    ``flow`` is YAML text or a loaded ``Flow``. Inputs are checked and typed as at run start.
    """
    from kestra_dagster.engine.execution import ExecutionState
    from kestra_dagster.engine.inputs import resolve_inputs
    from kestra_dagster.engine.kv import SQLiteKV
    from kestra_dagster.engine.runner import Runner, RunServices, Scope
    from kestra_dagster.engine.storage import LocalStorage
    from kestra_dagster.model.loader import parse_flow

    if isinstance(flow, str):
        flow = parse_flow(flow).flow
    base = Path(base_dir)
    loggers: dict[str, RecordingLogger] = {}

    def logger_for(task_id: str, values: tuple[str, ...]) -> RecordingLogger:
        key = task_id + "".join(f"[{v}]" for v in values)
        return loggers.setdefault(key, RecordingLogger(prefix=f"[{key}] "))

    execution = ExecutionState(execution_id="exec1", namespace=flow.namespace, flow_id=flow.id,
                               inputs=resolve_inputs(flow, inputs))
    kv = SQLiteKV(base / "kv.sqlite")
    try:
        services = RunServices(storage=LocalStorage(base / "storage"), kv=kv, logger_factory=logger_for,
                               work_root=base / "work")
        runner = Runner(flow, execution, services)
        state = runner.run_list(flow.tasks, Scope(), flow.errors, flow.finally_)
    finally:
        kv.close()
    return TaskRunsResult(state.value, execution, loggers)
