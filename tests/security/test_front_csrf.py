"""Attack: cross-site requests ride the browser's basic-auth credentials (issue 12, #5).

Before: a cross-origin ``text/plain`` POST approved a gate as the logged-in reviewer, a GET
``/graphql?query=mutation…`` launched a run, and WebSockets with a foreign Origin were accepted
(the front door dropped Origin). Now every state-changing request and WebSocket handshake from
another origin is refused, GraphQL mutations over GET are refused, and the approval page's own
buttons (same origin, behind the front door) still work.
"""

from __future__ import annotations

import asyncio

import pytest

from attack_helpers import AUTH

EVIL = "http://evil.example"


def _host(stack) -> str:
    return stack.front.split("://")[1]


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL, "Content-Type": "text/plain"},
    {"Origin": "null", "Content-Type": "text/plain"},
    {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.example", "Content-Type": "application/json"},
])
def test_cross_site_state_changes_are_refused(stack, headers):
    n = len(stack.webserver_seen)
    with stack.client() as c:
        for path in ("/api/v1/executions/some-run/approve", "/api/v1/executions/some-run/resume",
                     "/approvals/some-gate/decide", "/graphql"):
            r = c.post(path, content=b'{"decision": "APPROVE"}', headers=headers, auth=AUTH)
            assert r.status_code == 403, (path, r.status_code, r.text)
            assert "cross" in r.json()["message"]
    assert len(stack.webserver_seen) == n  # nothing reached dagster-webserver


def test_graphql_mutation_over_get_is_refused(stack):
    n = len(stack.webserver_seen)
    query = 'mutation { launchRun(executionParams: {selector: {jobName: "x"}}) { __typename } }'
    with stack.client() as c:
        for q in (query, "# comment\n" + query, "query A { x } mutation B { y }"):
            r = c.get("/graphql", params={"query": q}, auth=AUTH)
            assert r.status_code == 405, (q, r.status_code)
        ok = c.get("/graphql", params={"query": "{ version }"}, auth=AUTH)  # queries still work
    assert ok.status_code == 200
    assert len(stack.webserver_seen) == n + 1


def test_websocket_from_another_origin_is_refused(stack):
    """A real WebSocket upstream (standing in for dagster-webserver's GraphQL subscriptions): a
    foreign Origin is refused at the handshake, the page's own origin gets through."""
    import base64
    import threading

    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus
    from websockets.sync.server import serve

    from attack_helpers import start_front, stop_process

    def echo(ws):
        for message in ws:
            ws.send(message)

    upstream = serve(echo, "127.0.0.1", 0)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    front, proc = start_front(None, f"http://127.0.0.1:{upstream.socket.getsockname()[1]}", stack.deployment.logs)
    basic = "Basic " + base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
    url = front.replace("http://", "ws://") + "/graphql"

    async def attempt(origin: str):
        async with connect(url, origin=origin, additional_headers={"Authorization": basic}, open_timeout=10) as ws:
            await ws.send("ping")
            return await asyncio.wait_for(ws.recv(), 10)

    try:
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(attempt(EVIL))
        assert refused.value.response.status_code == 403
        assert asyncio.run(attempt(front)) == "ping"  # same origin: proxied both ways
    finally:
        stop_process(proc)
        upstream.shutdown()
        thread.join(5)


def test_same_origin_approval_buttons_work_behind_the_front_door(stack):
    origin = f"http://{_host(stack)}"
    with stack.client(follow_redirects=False) as c:
        page = c.get("/approvals", auth=AUTH)
        assert page.status_code == 200 and f"Signed in as <b>{AUTH[0]}</b>" in page.text
        # what the page's form sends: same Origin and Sec-Fetch-Site as the page itself
        r = c.post("/approvals/no-such-gate/decide", data={"action": "approve"}, auth=AUTH,
                   headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 303 and "no%20such%20gate" in r.headers["location"], (r.status_code, r.text)
        # and the API, same origin, as the logged-in reviewer
        r = c.post("/api/v1/executions/no-such-run/approve", json={}, auth=AUTH,
                   headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 404 and "no Pause/Approval gate" in r.json()["message"]


def test_browser_requests_behind_a_host_rewriting_proxy_still_work(stack):
    """A reverse proxy that rewrites Host (nginx's default): the browser's Sec-Fetch-Site decides."""
    with stack.client() as c:
        r = c.post("/graphql", json={"query": "{ version }"}, auth=AUTH,
                   headers={"Host": "127.0.0.1:1", "Origin": "https://kestra.example.com",
                            "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200


def test_origin_rules():
    from kestra_dagster.server.request_guard import cross_site_problem

    def check(method="POST", websocket=False, allowed=(), **h):
        headers = {k.replace("_", "-").encode(): v.encode() for k, v in h.items()}
        return cross_site_problem(method, headers, websocket=websocket, allowed_origins=allowed)

    assert check(host="a:8080") is None  # curl, CI: no browser headers
    assert check(method="GET", host="a:8080", origin=EVIL) is None  # safe methods pass
    assert check(method="GET", websocket=True, host="a:8080", origin=EVIL)  # WebSocket handshakes don't
    assert check(host="a:8080", origin="http://a:8080") is None
    assert check(host="a:8080", origin="http://a:8081")
    assert check(host="a:8080", origin="http://a:8080.evil.example")
    assert check(host="127.0.0.1:8080", origin="https://kestra.example.com") is not None
    assert check(host="127.0.0.1:8080", origin="https://kestra.example.com",
                 allowed=("https://kestra.example.com/",)) is None  # kestra.url
    assert check(host="a", origin="http://a", sec_fetch_site="cross-site")
    assert check(host="a", origin=EVIL, sec_fetch_site="same-origin") is None  # the browser's word wins
