"""Low-severity front door findings (issue 12): failed basic-auth logins were not throttled, and
``/health`` gave component details (PIDs, errors) to anyone."""

from __future__ import annotations

from attack_helpers import AUTH, start_front, stop_process


def test_health_details_need_auth(stack):
    with stack.client() as c:
        anonymous = c.get("/health")
        assert anonymous.status_code == 200 and anonymous.json() == {"status": "UP"}
        assert c.get("/health", auth=("admin@kestra.io", "wrong")).json() == {"status": "UP"}
        full = c.get("/health", auth=AUTH).json()
    assert full["components"]["front"]["pid"] == stack.front_pid


def test_failed_logins_are_throttled_per_client(stack):
    front, proc = start_front(stack.intake, None, stack.deployment.logs)
    try:
        import httpx

        with httpx.Client(base_url=front, timeout=10) as c:
            statuses = [c.get("/api/v1/approvals", auth=("admin@kestra.io", f"guess-{i}")).status_code
                        for i in range(12)]
            assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429], statuses
            blocked = c.get("/api/v1/approvals", auth=AUTH)  # even the right password waits
            assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
            # public webhook paths are not affected (their key decides)
            assert c.post("/api/v1/executions/webhook/sec.test/hooks/good-key-123", json={"who": "x"}).status_code == 200
    finally:
        stop_process(proc)
