"""``kestra-dagster server standalone`` for real: auth, /health, a run over GraphQL, restart, SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from deploy_helpers import FLOWS, ROOT, free_port, run_over_graphql, wait_for

pytestmark = pytest.mark.timeout(300)

USER, PASSWORD = "admin@kestra.io", "Kestra-Test-Pw1"
CREDS = (USER, PASSWORD)
CONFIG = """
kestra:
  server:
    basic-auth:
      enabled: true
      username: admin@kestra.io
      password: ${STANDALONE_ADMIN_PASSWORD}
"""


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _marker_of(pid: int) -> str | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"KESTRA_DAGSTER_SUPERVISOR="):
            return item.split(b"=", 1)[1].decode()
    return None


@contextlib.contextmanager
def _standalone(tmp: Path, *extra: str, env: dict | None = None):
    """``server standalone`` on a free port until it is healthy; killed (whole group) afterwards."""
    port = free_port()
    log = open(tmp / "server.log", "wb")
    env = {**os.environ, **(env or {})}
    env.pop("KESTRA_CONFIGURATION", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kestra_dagster.cli", "server", "standalone", "--host", "127.0.0.1", "--port", str(port),
         "--dagster-home", str(tmp / "home"), "--flows-dir", str(FLOWS), *extra],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return httpx.get(f"{base}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        if not wait_for(healthy, 180):
            proc.kill()
            pytest.fail("server did not become healthy:\n" + (tmp / "server.log").read_text()[-4000:])
        info = {"base": base, "proc": proc, "tmp": tmp, "startup": time.monotonic() - started}
        print(f"standalone healthy after {info['startup']:.1f}s")
        yield info
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (the supervisor stops its children), then SIGKILL whatever of ours is left: the
    children run in their own sessions, so killing the supervisor's group alone would orphan them."""
    from kestra_dagster.server.supervisor import marked_processes

    children = _children(proc.pid)
    markers = {m for m in map(_marker_of, children) if m}
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    for pid in [*children, *(p for m in markers for p in marked_processes(m))]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("standalone")
    (tmp / "application.yml").write_text(CONFIG)
    with _standalone(tmp, "--config", str(tmp / "application.yml"), env={"STANDALONE_ADMIN_PASSWORD": PASSWORD}) as info:
        yield info


def test_quick_start_without_configuration(tmp_path):
    """README's SQLite quick start as written: no configuration, no auth, SQLite under DAGSTER_HOME."""
    with _standalone(tmp_path) as info:
        base = info["base"]
        assert httpx.get(base + "/", timeout=10).status_code == 200  # no basic auth configured
        assert httpx.get(base + "/health", timeout=10).json()["status"] == "UP"
        _, status = run_over_graphql(base, "deploy_tests__deploy_check", {"name": "quick start"})
        assert status == "SUCCESS"
        assert (tmp_path / "home" / "dagster.yaml").exists()
        assert list((tmp_path / "home").rglob("*.db")), "runs land in the embedded SQLite storage"


def test_basic_auth_and_health(server):
    base = server["base"]
    for path in ("/", "/graphql", "/api/v1/webhook-deliveries/x"):
        assert httpx.get(base + path, timeout=10).status_code == 401, path
    assert httpx.get(base + "/", auth=(USER, "wrong"), timeout=10).status_code == 401
    assert httpx.get(base + "/", auth=CREDS, timeout=10).status_code == 200
    r = httpx.post(base + "/graphql", auth=CREDS, json={"query": "{ version }"}, timeout=30)
    assert r.status_code == 200 and r.json()["data"]["version"]
    assert httpx.get(base + "/health", timeout=10).json() == {"status": "UP"}  # details need auth
    h = httpx.get(base + "/health", auth=CREDS, timeout=10)
    assert h.status_code == 200
    body = h.json()
    assert body["status"] == "UP"
    assert set(body["components"]) == {"code_server", "webserver", "daemon", "intake", "database"}
    assert all(c["status"] == "UP" for c in body["components"].values())
    assert body["components"]["daemon"]["heartbeats"]
    # the approval API is behind basic auth and served by the intake
    assert httpx.get(base + "/api/v1/approvals", timeout=10).status_code == 401
    r = httpx.get(base + "/api/v1/approvals", auth=CREDS, timeout=10)
    assert r.status_code == 200, r.text
    # webhook trigger URLs skip basic auth and reach the intake (which knows no such flow: 404)
    r = httpx.post(base + "/api/v1/executions/webhook/deploy.tests/nope/some-key", json={}, timeout=10)
    assert r.status_code == 404


def test_flow_launched_over_graphql_succeeds(server):
    _, status = run_over_graphql(server["base"], "deploy_tests__deploy_check", {"name": "graphql"}, auth=CREDS)
    assert status == "SUCCESS"


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def test_daemon_child_is_the_one_second_sensor_loop_wrapper(server):
    pid = httpx.get(server["base"] + "/health", auth=CREDS, timeout=10).json()["components"]["daemon"]["pid"]
    argv = _cmdline(pid)
    assert argv[1:4] == ["-m", "kestra_dagster.triggers.daemon", "run"], argv
    assert "kestra-dagster: sensor loop every 1s" in (server["tmp"] / "server.log").read_text()


def test_server_daemon_execs_the_wrapper_too(tmp_path):
    """``server daemon`` replaces itself with the wrapper (same pid), whatever the code server."""
    log = open(tmp_path / "daemon.log", "wb")
    env = {k: v for k, v in os.environ.items() if k not in ("KESTRA_CONFIGURATION", "KESTRA_CONFIG_FILE")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kestra_dagster.cli", "server", "daemon", "--dagster-home", str(tmp_path / "home"),
         "--flows-dir", str(FLOWS), "--code-server", f"127.0.0.1:{free_port()}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        argv = wait_for(lambda: (a := _cmdline(proc.pid)) and "kestra_dagster.triggers.daemon" in a and a, 60, 0.2)
        assert argv and argv[1:4] == ["-m", "kestra_dagster.triggers.daemon", "run"], argv
        assert wait_for(lambda: "sensor loop every 1s" in (tmp_path / "daemon.log").read_text(), 30, 0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


def test_killed_daemon_turns_health_503_then_is_restarted(server):
    base = server["base"]
    health = httpx.get(base + "/health", auth=CREDS, timeout=10).json()
    daemon_pid = health["components"]["daemon"]["pid"]
    os.kill(daemon_pid, signal.SIGKILL)
    down = wait_for(lambda: (r := httpx.get(base + "/health", auth=CREDS, timeout=10)).status_code == 503 and r.json(),
                    10, 0.2)
    assert down and down["components"]["daemon"]["status"] == "DOWN"

    def back():
        r = httpx.get(base + "/health", auth=CREDS, timeout=10)
        return r.status_code == 200 and r.json()

    up = wait_for(back, 90, 1)
    assert up, httpx.get(base + "/health", auth=CREDS, timeout=10).text
    assert up["components"]["daemon"]["restarts"] == 1 and up["components"]["daemon"]["pid"] != daemon_pid


def test_sigterm_stops_every_child(server):
    proc = server["proc"]
    children = _children(proc.pid)
    assert len(children) >= 4
    marker = _marker_of(children[0])
    assert marker
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    from kestra_dagster.server.supervisor import marked_processes

    assert wait_for(lambda: not marked_processes(marker), 10) is True, marked_processes(marker)
    for pid in children:
        assert not Path(f"/proc/{pid}").exists()
    log = (server["tmp"] / "server.log").read_text()
    assert "storage migrations done" in log and "kestra-dagster: stopped" in log
