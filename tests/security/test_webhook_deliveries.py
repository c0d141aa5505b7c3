"""Attack: one webhook delivery blocks its trigger (issue 12, #3), and the intake acknowledges
deliveries no run can follow.

Before: a 6.7 kB body nested 900 deep was accepted (200); every later sensor tick failed with
RecursionError and all later deliveries of that trigger stayed PENDING. Now the intake refuses
too-deep JSON (400, with the depth) and the sensor turns each delivery into a run on its own: one
that cannot become a run is REJECTED with its reason (shown by the delivery API) and the others
get their runs. A flow the code location does not load answers 422 naming the problem.
"""

from __future__ import annotations

import json
import time

import dagster as dg

from kestra_dagster.triggers.store import PENDING, REJECTED, Delivery, DeliveryStore, new_delivery_id

WEBHOOK = "/api/v1/executions/webhook/sec.test/hooks/good-key-123"


def _deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_too_deep_json_is_refused_at_intake(stack):
    store = DeliveryStore(stack.deployment.instance)
    before = store.count("sec.test.hooks")
    with stack.client() as c:
        for body in (_deep(900), "[" * 900 + "]" * 900, _deep(100_000)):
            r = c.post(WEBHOOK, content=body.encode(), headers={"content-type": "application/json"})
            assert r.status_code == 400, (r.status_code, r.text[:200])
            assert "nested" in r.json()["message"]
        # brackets inside strings do not count, and ordinary payloads pass
        ok = c.post(WEBHOOK, json={"who": "[[[[" * 500, "deep": json.loads(_deep(20))})
        assert ok.status_code == 200, ok.text
    assert store.count("sec.test.hooks") == before + 1


def test_a_delivery_that_cannot_become_a_run_is_rejected_alone(stack):
    """A stored delivery too deep for a run (as one accepted before this fix would be), between
    two good ones: the sensor rejects it with a reason and launches the others."""
    from kestra_dagster.compiler.definitions import build_definitions

    instance = stack.deployment.instance
    store = DeliveryStore(instance)
    ids = [new_delivery_id() for _ in range(3)]
    deep = json.loads(_deep(900))
    payloads = [{"who": "first"}, deep, {"who": "third"}]
    store.insert_many([
        Delivery(delivery_id=i, flow_uid="sec.test.hooks", trigger_id="raw", status=PENDING,
                 payload={"trigger": {"body": p, "headers": {}, "parameters": {}, "method": "POST"}},
                 run_id=None, received_at=time.time())
        for i, p in zip(ids, payloads)
    ])
    defs = build_definitions([stack.deployment.flows_dir])
    sensor = defs.resolve_sensor_def("sec_test__hooks__raw__webhook")
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    keys = {r.run_key for r in result.run_requests or []}
    assert ids[0] in keys and ids[2] in keys and ids[1] not in keys
    rejected = store.get(ids[1])
    assert rejected.status == REJECTED and "nested" in rejected.error
    # visible in the delivery API (through the front door, authenticated)
    from attack_helpers import AUTH

    with stack.client() as c:
        info = c.get(f"/api/v1/webhook-deliveries/{ids[1]}", auth=AUTH).json()
    assert info["state"] == "REJECTED" and "nested" in info["error"]


def test_flow_not_loaded_by_the_code_location_answers_422(stack):
    with stack.client() as c:
        r = c.post("/api/v1/executions/webhook/sec.test/unloaded/unloaded-key", json={})
        assert r.status_code == 422, r.text
        message = r.json()["message"]
        assert "not loaded by the code location" in message and "jython.Eval" in message
        # the wrong key still says nothing about the flow
        wrong = c.post("/api/v1/executions/webhook/sec.test/unloaded/other-key", json={})
        assert wrong.status_code == 404 and "jython" not in wrong.text
    assert DeliveryStore(stack.deployment.instance).count("sec.test.unloaded") == 0


def test_credential_headers_are_not_stored(stack):
    with stack.client() as c:
        r = c.post(WEBHOOK, json={"who": "creds"}, headers={
            "Authorization": "Bearer caller-token-xyz", "Cookie": "session=caller-cookie-abc",
            "Proxy-Authorization": "Basic cHJveHk6cHc=", "X-Trace": "kept"})
    assert r.status_code == 200, r.text
    delivery = DeliveryStore(stack.deployment.instance).get(r.json()["id"])
    headers = delivery.payload["trigger"]["headers"]
    assert headers["x-trace"] == ["kept"]
    stored = json.dumps(delivery.payload)
    for secret in ("caller-token-xyz", "caller-cookie-abc", "cHJveHk6cHc=", "authorization", "cookie"):
        assert secret not in stored.lower()
    assert "x-kestra-proxy-secret" not in headers  # the front door's own secret is never stored either
