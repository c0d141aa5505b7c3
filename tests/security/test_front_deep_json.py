"""Low-severity finding (issue 12): very deep JSON gave 500 instead of a 4xx. Deep or broken JSON
sent to the intake's APIs (webhooks, approvals) is a client error (400) with a reason."""

from __future__ import annotations

from attack_helpers import AUTH

DEEP = ('{"a":' * 5000 + "1" + "}" * 5000).encode()
JSON = {"content-type": "application/json"}


def test_deep_or_broken_json_is_a_client_error(stack):
    with stack.client() as c:
        for path in ("/api/v1/executions/some-run/resume", "/api/v1/executions/some-run/actions/review",
                     "/api/v1/executions/some-run/approve"):
            r = c.post(path, content=DEEP, headers=JSON, auth=AUTH)
            assert r.status_code == 400 and "nested" in r.json()["message"], (path, r.status_code, r.text[:200])
            broken = c.post(path, content=b'{"decision": ', headers=JSON, auth=AUTH)
            assert broken.status_code == 400 and "not valid JSON" in broken.json()["message"]
        r = c.post("/api/v1/executions/webhook/sec.test/hooks/good-key-123", content=DEEP, headers=JSON)
        assert r.status_code == 400 and "nested" in r.json()["message"]


def test_decision_bodies_are_bounded_on_the_intake_port_too(stack):
    """An authenticated request straight to the intake (past the front door's limits; an
    unauthenticated one is refused before its body is read)."""
    import httpx

    from attack_helpers import PROXY_SECRET

    trusted = {**JSON, "X-Kestra-Proxy-Secret": PROXY_SECRET, "X-Kestra-User": "admin@kestra.io"}
    with httpx.Client(base_url=stack.intake, timeout=30) as direct:
        r = direct.post("/api/v1/executions/some-run/resume", content=b"[" + b"0," * 1_000_000 + b"0]",
                        headers=trusted)
    assert r.status_code == 413 and "larger than" in r.json()["message"]
