"""Attack: paths that auth and the forwarded request read differently (issue 12, #4), and webhook
keys leaking through paths (low: unmasked key when followed by '/', a 307 showing the intake).

Before: ``/api/v1/webhook-deliveries/executions/webhook/../../<id>`` matched the public webhook
pattern (no basic auth) and was normalised to ``/api/v1/webhook-deliveries/<id>`` when forwarded,
so anyone read a delivery. Now the decision is made on the path that is forwarded, and dot
segments, encoded separators and ``//`` are refused (400) before auth.
"""

from __future__ import annotations

import pytest

from attack_helpers import AUTH, raw_request

WEBHOOK = "/api/v1/executions/webhook/sec.test/hooks/good-key-123"


@pytest.fixture(scope="module")
def delivery_id(stack):
    with stack.client() as c:
        r = c.post(WEBHOOK, json={"who": "alice"})
    assert r.status_code == 200, r.text
    return r.json()["id"]


@pytest.mark.parametrize("template", [
    "/api/v1/webhook-deliveries/executions/webhook/../../{id}",
    "/api/v1/webhook-deliveries/executions/webhook/%2e%2e/%2e%2e/{id}",
    "/api/v1/webhook-deliveries/executions/webhook/.%2E/..%2f{id}",
    "/api/v1/executions/webhook/a/b/c/../../../../webhook-deliveries/{id}",
    "/api/v1/webhook-deliveries/executions/webhook/a%2Fb/x/{id}",
    "//api/v1/webhook-deliveries/{id}",
    "/api/v1//webhook-deliveries/{id}",
    "/api/v1/webhook-deliveries/./{id}",
])
def test_delivery_is_not_readable_through_path_tricks(stack, delivery_id, template):
    path = template.format(id=delivery_id)
    host, port = stack.front.split("://")[1].split(":")
    # a raw socket: HTTP clients (httpx, browsers) would normalise the path before sending it
    status, answer = raw_request(host, int(port), f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n")
    assert status == 400, (path, status, answer[:300])
    assert delivery_id.encode() not in answer


def test_the_same_delivery_needs_auth_on_its_real_path(stack, delivery_id):
    with stack.client() as c:
        assert c.get(f"/api/v1/webhook-deliveries/{delivery_id}").status_code == 401
        ok = c.get(f"/api/v1/webhook-deliveries/{delivery_id}", auth=AUTH)
    assert ok.status_code == 200 and ok.json()["id"] == delivery_id


def test_webhook_key_is_masked_in_logs_and_no_redirect_shows_the_intake(stack):
    key = "good-key-123"
    with stack.client() as c:
        for path in (f"{WEBHOOK}/", f"{WEBHOOK}/extra", f"{WEBHOOK}/extra/more"):
            r = c.post(path, json={"who": "slash"})
            assert r.status_code != 307 and "location" not in r.headers, (path, r.status_code, r.headers)
            assert stack.intake.split("://")[1] not in r.text
        assert c.post(f"{WEBHOOK}/", json={"who": "slash"}).status_code == 200  # trailing slash still works
    log = stack.deployment.log_text("intake")
    assert "executions/webhook/sec.test/hooks/******" in log
    assert key not in log
