"""The front door's auth and routing, against fake upstreams (no processes)."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx

from kestra_dagster.config import BasicAuthSettings
from kestra_dagster.server.front import FrontApp, Upstreams, check_basic_auth

AUTH = BasicAuthSettings(enabled=True, username="admin@kestra.io", password="p@ss:word")
GOOD = {"Authorization": "Basic " + base64.b64encode(b"admin@kestra.io:p@ss:word").decode()}


def _run(auth=AUTH, healthy=True):
    seen = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.dumps({"host": request.url.host, "path": request.url.path,
                           "user": request.headers.get("x-kestra-user")}).encode()
        # a streamed body, as a real upstream gives (the front door relays it chunk by chunk)
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(body))

    async def health():
        return healthy, {"status": "UP" if healthy else "DOWN", "components": {}}

    app = FrontApp(auth, Upstreams(webserver="http://web:1", intake="http://intake:2"), health)
    app.client = httpx.AsyncClient(transport=httpx.MockTransport(upstream))

    async def call(method, path, headers=None):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://front") as client:
            return await client.request(method, path, headers=headers or {})

    return (lambda *a, **k: asyncio.run(call(*a, **k))), seen


def test_basic_auth_and_routing():
    call, seen = _run()
    r = call("GET", "/")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic realm=")
    assert call("POST", "/graphql").status_code == 401
    bad = {"Authorization": "Basic " + base64.b64encode(b"admin@kestra.io:nope").decode()}
    assert call("GET", "/", bad).status_code == 401
    assert call("GET", "/", {"Authorization": "Basic !!notbase64"}).status_code == 401
    r = call("GET", "/runs", GOOD)
    assert r.status_code == 200 and r.json() == {"host": "web", "path": "/runs", "user": "admin@kestra.io"}
    # approvals / deliveries: authenticated, to the intake, with the reviewer identity
    r = call("POST", "/api/v1/executions/abc/resume", {**GOOD, "X-Kestra-User": "mallory"})
    assert r.json() == {"host": "intake", "path": "/api/v1/executions/abc/resume", "user": "admin@kestra.io"}
    assert call("GET", "/api/v1/webhook-deliveries/1").status_code == 401
    # webhook triggers: no basic auth (their key decides), and a forged identity is dropped
    r = call("POST", "/api/v1/executions/webhook/company.team/flow/key-123", {"X-Kestra-User": "mallory"})
    assert r.status_code == 200 and r.json()["host"] == "intake" and r.json()["user"] is None
    r = call("POST", "/api/v1/main/executions/webhook/company.team/flow/key-123")
    assert r.status_code == 200 and r.json()["host"] == "intake"
    assert len(seen) == 4


def test_health_is_open_and_reports_503():
    call, _ = _run(healthy=True)
    assert call("GET", "/health").status_code == 200
    call, _ = _run(healthy=False)
    r = call("GET", "/health")
    assert r.status_code == 503 and r.json()["status"] == "DOWN"


def test_auth_disabled_passes_everything_without_identity():
    call, _ = _run(auth=BasicAuthSettings(enabled=False))
    r = call("GET", "/graphql", {"X-Kestra-User": "mallory"})
    assert r.status_code == 200 and r.json()["user"] is None


def test_check_basic_auth_constant_time_helper():
    assert check_basic_auth(GOOD["Authorization"].encode(), AUTH) == "admin@kestra.io"
    assert check_basic_auth(b"Bearer x", AUTH) is None
    assert check_basic_auth(None, AUTH) is None
