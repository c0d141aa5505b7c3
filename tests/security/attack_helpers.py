"""Helpers of the attack tests (tests/security); the ``stack`` fixture is in conftest.py.

One real stack for the attack tests, all on 127.0.0.1: the webhook/approval intake (a real
``kestra-dagster server webhooks`` process on a SQLite Dagster instance, given the front door's
per-start secret on stdin), a stand-in for dagster-webserver (a real HTTP server that records
what reaches it), and the front door (``front_process.py``, a real process so its memory can be
measured). Everything is stopped at the end of the session."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx

from kestra_dagster.testing import LocalDeployment, free_port, wait_until

HERE = Path(__file__).resolve().parent
USER, PASSWORD = "admin@kestra.io", "Adm1n-pass"
AUTH = (USER, PASSWORD)
PROXY_SECRET = "per-start-" + base64.urlsafe_b64encode(os.urandom(18)).decode()
GH_SECRET = "gh-hmac-secret"

FLOWS = {
    "hooks.yaml": """
id: hooks
namespace: sec.test
inputs:
  - {id: who, type: STRING, defaults: nobody}
tasks:
  - id: echo
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.who }}"
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: good-key-123
    inputs:
      who: "{{ trigger.body.who ?? 'x' }}"
  - id: raw
    type: io.kestra.plugin.core.trigger.Webhook
    key: raw-key-456
""",
    "github.yaml": """
id: github
namespace: sec.test
tasks:
  - {id: echo, type: io.kestra.plugin.core.debug.Return, format: "{{ trigger.body.ref }}"}
triggers:
  - id: signed
    type: io.kestra_dagster.plugin.git.GitHubWebhook
    key: gh-key
    secret: "{{ secret('GH_SECRET') }}"
  - id: empty-secret
    type: io.kestra_dagster.plugin.git.GitHubWebhook
    key: gh-empty
    secret: "{{ secret('EMPTY_SECRET') }}"
  - id: unsigned
    type: io.kestra_dagster.plugin.git.GitLabWebhook
    key: gl-open
    allowUnsigned: true
""",
    "unloaded.yaml": """
id: unloaded
namespace: sec.test
tasks:
  - id: legacy
    type: io.kestra.plugin.scripts.jython.Eval
    script: "print(1)"
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: unloaded-key}
""",
}


class Recorder(BaseHTTPRequestHandler):
    """Stand-in for dagster-webserver: answers 200 and records every request that reaches it."""

    seen: list = []

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        elif "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            while True:  # read (and drop) a chunked body, as a real server does
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                self.rfile.read(size + 2)
                if size == 0:
                    break
        Recorder.seen.append((self.command, self.path, dict(self.headers)))
        body = b'{"data": {}}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args):  # quiet
        pass


@dataclass
class Stack:
    deployment: LocalDeployment
    intake: str
    front: str
    front_proc: subprocess.Popen
    webserver_seen: list
    env: dict = field(default_factory=dict)

    @property
    def front_pid(self) -> int:
        return self.front_proc.pid

    @property
    def intake_pid(self) -> int:
        return self.deployment.processes["intake"].pid

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.front, timeout=30, **kw)


def proc_kb(pid: int, key: str) -> int:
    """A /proc/<pid>/status figure in kB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def raw_request(host: str, port: int, head: str, body_size: int = 0, chunk: int = 256 * 1024,
                timeout: float = 60.0) -> tuple[int, bytes]:
    """Send a request with a (zero-filled) body of ``body_size`` over a plain socket; (status, answer).

    Writing stops early when the server already answered and closed (as a browser or curl would)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(head.encode("latin-1"))
        block = b"0" * chunk
        sent = 0
        try:
            while sent < body_size:
                n = min(chunk, body_size - sent)
                s.sendall(block[:n])
                sent += n
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
                part = s.recv(65536)
                if not part:
                    break
                data += part
        except (ConnectionResetError, socket.timeout):
            pass
    if not data.startswith(b"HTTP/1.1 "):
        return 0, data
    return int(data[9:12]), data


def _length(data: bytes) -> int:
    head = data[: data.index(b"\r\n\r\n")].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 0


def start_front(intake: str | None, webserver: str | None, logs: Path, *extra: str,
                secret: str | None = PROXY_SECRET) -> tuple[str, subprocess.Popen]:
    port = free_port()
    argv = [sys.executable, str(HERE / "front_process.py"), "--port", str(port), "--username", USER,
            "--password", PASSWORD, *extra]
    if intake:
        argv += ["--intake", intake]
    if webserver:
        argv += ["--webserver", webserver]
    if secret:
        argv.append("--proxy-secret-stdin")
    log = open(logs / f"front-{port}.log", "ab")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    log.close()
    proc.stdin.write(((secret or "") + "\n").encode())
    proc.stdin.close()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/health", timeout=1).status_code == 200, 30, what="the front door")
    except TimeoutError:
        stop_process(proc)
        raise
    return url, proc


def stop_process(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


