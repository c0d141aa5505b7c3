"""The ``stack`` fixture of the attack tests (see attack_helpers.py)."""

from __future__ import annotations

import base64
import threading
from http.server import ThreadingHTTPServer

import pytest

from attack_helpers import FLOWS, GH_SECRET, PROXY_SECRET, Recorder, Stack, start_front, stop_process
from kestra_dagster.testing import LocalDeployment


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # the front door dropped an upstream request: expected
        pass


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("security")
    flows = root / "flows"
    flows.mkdir()
    for name, text in FLOWS.items():
        (flows / name).write_text(text)
    env = {"SECRET_GH_SECRET": base64.b64encode(GH_SECRET.encode()).decode(),
           "SECRET_EMPTY_SECRET": base64.b64encode(b"   ").decode(),
           "KESTRA_APPROVAL_USER_HEADER": "X-Kestra-User",
           "KESTRA_APPROVAL_USERS": ""}
    deployment = LocalDeployment(root, flows, queued_runs_only=True, env=env)
    server = QuietServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    front_proc = None
    try:
        intake = deployment.start_intake(proxy_secret=PROXY_SECRET)
        webserver = f"http://127.0.0.1:{server.server_address[1]}"
        front, front_proc = start_front(intake, webserver, deployment.logs)
        yield Stack(deployment, intake, front, front_proc, Recorder.seen, env)
    finally:
        if front_proc is not None:
            stop_process(front_proc)
        server.shutdown()
        server.server_close()
        deployment.close()
