"""The webhook intake over HTTP (in-process ASGI client): statuses, signatures, filters, durability.

Real GitHub-style payloads and HMAC signatures; the store is a real SQLite Dagster instance.
The sensor that turns deliveries into runs is exercised here through ``build_sensor_context``;
``test_webhook_daemon.py`` runs it under the real daemon.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import warnings

import dagster as dg
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from kestra_dagster.compiler.definitions import build_definitions
from kestra_dagster.triggers.git_events import github_signature
from kestra_dagster.intake.app import IntakeConfig, WebhookEndpoint, build_app
from kestra_dagster.triggers.store import DeliveryStore, deliveries

GH_SECRET = "s3cr3t-hmac-key"
FLOWS = {
    "plain.yaml": """
id: plain
namespace: demo.hooks
inputs:
  - {id: who, type: STRING, defaults: nobody}
  - {id: count, type: INT, defaults: 0}
tasks:
  - id: echo
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.who }}/{{ trigger.body.ref }}/{{ trigger.headers['x-trace'][0] }}/{{ trigger.parameters.p[0] }}"
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: "{{ secret('WEBHOOK_KEY') }}"
    inputs:
      who: "{{ trigger.body.who }}"
      count: "{{ trigger.body.count }}"
  - id: raw
    type: io.kestra.plugin.core.trigger.Webhook
    key: raw-key
  - {id: waiting, type: io.kestra.plugin.core.trigger.Webhook, key: wait-key, wait: true}
  - id: conditional
    type: io.kestra.plugin.core.trigger.Webhook
    key: cond-key
    conditions:
      - type: io.kestra.plugin.core.condition.ExpressionCondition
        expression: "{{ trigger.body.hello == 'world' }}"
""",
    "github.yaml": f"""
id: release
namespace: demo.hooks
tasks:
  - id: ref
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.body.ref }}}}"
triggers:
  - id: tags
    type: io.kestra_dagster.plugin.git.GitHubWebhook
    key: gh-tags
    secret: "{GH_SECRET}"
    events: [push, create]
    tags: ["v*"]
  - id: prs
    type: io.kestra_dagster.plugin.git.GitHubWebhook
    key: gh-prs
    secret: "{{{{ secret('GH_SECRET') }}}}"
    events: [pull_request]
    branches: [main]
    actions: [opened, synchronize]
  - id: gitlab
    type: io.kestra_dagster.plugin.git.GitLabWebhook
    key: gl
    secret: "{{{{ secret('GH_SECRET') }}}}"
    events: [merge_request]
    actions: [open, update]
""",
}

PUSH_TAG = {"ref": "refs/tags/v1.4.0", "before": "0" * 40, "after": "a" * 40, "created": True, "deleted": False,
            "repository": {"full_name": "acme/app", "clone_url": "https://github.com/acme/app.git"},
            "pusher": {"name": "octocat"}, "head_commit": {"id": "a" * 40, "message": "release 1.4.0"}}
PUSH_MAIN = {**PUSH_TAG, "ref": "refs/heads/main", "created": False}
CREATE_TAG = {"ref": "v2.0.0", "ref_type": "tag", "master_branch": "main", "repository": {"full_name": "acme/app"}}
PR = {"action": "opened", "number": 7, "pull_request": {"number": 7, "title": "Add feature", "state": "open",
      "head": {"ref": "feature", "sha": "b" * 40}, "base": {"ref": "main", "sha": "c" * 40}},
      "repository": {"full_name": "acme/app"}}
MR = {"object_kind": "merge_request", "event_type": "merge_request", "user": {"username": "root"},
      "object_attributes": {"iid": 3, "action": "open", "source_branch": "feature", "target_branch": "main"}}


@pytest.fixture(scope="module")
def module_instance(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    instance = dg.DagsterInstance.local_temp(str(home))
    yield instance
    instance.dispose()


@pytest.fixture()
def env(tmp_path: Path, monkeypatch, module_instance):
    flows = tmp_path / "flows"
    flows.mkdir()
    for name, text in FLOWS.items():
        (flows / name).write_text(text)
    monkeypatch.setenv("SECRET_WEBHOOK_KEY", base64.b64encode(b"k-123").decode())
    monkeypatch.setenv("SECRET_GH_SECRET", base64.b64encode(GH_SECRET.encode()).decode())
    store = DeliveryStore(module_instance)
    with store._sql.connect() as conn:  # each test starts with an empty delivery table
        conn.execute(deliveries.delete())
    app = build_app([flows], instance=module_instance, config=IntakeConfig(max_body_bytes=2048))
    with TestClient(app) as client:
        yield client, store, module_instance, flows


def _gh(client, key, event, payload, secret=GH_SECRET, signature=None):
    raw = json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": "d-1", "Content-Type": "application/json",
               "X-Hub-Signature-256": signature if signature is not None else github_signature(secret, raw)}
    return client.post(f"/api/v1/executions/webhook/demo.hooks/release/{key}", content=raw, headers=headers)


def test_plain_webhook_stores_delivery_and_sensor_builds_the_run(env):
    client, store, instance, flows = env
    r = client.post("/api/v1/executions/webhook/demo.hooks/plain/k-123?p=1&p=2",
                    json={"who": "alice", "count": "3", "ref": "refs/heads/main"}, headers={"X-Trace": "t-9"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "CREATED" and body["runId"] is None
    delivery = store.get(body["id"])
    assert delivery.status == "PENDING"
    assert delivery.payload["trigger"]["parameters"] == {"p": ["1", "2"]}
    assert delivery.payload["trigger"]["headers"]["x-trace"] == ["t-9"]

    defs = build_definitions([flows])
    sensor = defs.resolve_sensor_def("demo_hooks__plain__hook__webhook")
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    (request,) = result.run_requests
    assert request.run_key == body["id"]
    assert request.run_config["inputs"] == {"who": "alice", "count": 3}
    assert request.tags["kestra/delivery_id"] == body["id"]
    # the run sees trigger.body / headers / parameters through expressions
    job = defs.resolve_job_def("demo_hooks__plain")
    run = job.execute_in_process(run_config=request.run_config, instance=instance, tags=request.tags)
    assert run.success
    from kestra_dagster.compiler.ops import END_NODE, OK

    assert run.output_for_node(END_NODE, OK).outputs["echo"]["value"] == "alice/refs/heads/main/t-9/1"
    # next tick: the delivery has its run, is marked LAUNCHED, and nothing is requested again
    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert again.run_requests == []
    assert store.get(body["id"]).run_id == run.run_id
    status = client.get(f"/api/v1/webhook-deliveries/{body['id']}").json()
    assert status["state"] == "LAUNCHED" and status["runId"] == run.run_id


def test_body_forms_and_methods(env):
    client, store, *_ = env
    for method, kwargs, expected in [
        ("PUT", {"json": [1, 2]}, [1, 2]),
        ("POST", {"content": b"plain text"}, "plain text"),
        ("GET", {}, None),
    ]:
        r = client.request(method, "/api/v1/executions/webhook/demo.hooks/plain/raw-key", **kwargs)
        assert r.status_code == 200, r.text
        assert store.get(r.json()["id"]).payload["trigger"]["body"] == expected


def test_unknown_flow_wrong_key_and_oversized_store_nothing(env, caplog):
    client, store, *_ = env
    caplog.set_level(logging.INFO, logger="kestra_dagster.webhooks")
    assert client.post("/api/v1/executions/webhook/demo.hooks/nope/k-123", json={}).status_code == 404
    assert client.post("/api/v1/executions/webhook/demo.hooks/plain/wrong", json={}).status_code == 404
    assert client.post("/api/v1/executions/webhook/other/plain/k-123", json={}).status_code == 404
    big = client.post("/api/v1/executions/webhook/demo.hooks/plain/k-123", content=b"x" * 5000)
    assert big.status_code == 413
    assert store.count() == 0
    # the key never reaches the access log
    assert "k-123" not in caplog.text and "/plain/******" in caplog.text


def test_false_condition_answers_204_and_stores_nothing(env):
    client, store, *_ = env
    url = "/api/v1/executions/webhook/demo.hooks/plain/cond-key"
    assert client.post(url, json={"hello": "moon"}).status_code == 204
    assert store.count() == 0
    assert client.post(url, json={"hello": "world"}).status_code == 200
    assert store.count() == 1


def test_invalid_inputs_answer_422(env):
    client, store, *_ = env
    r = client.post("/api/v1/executions/webhook/demo.hooks/plain/k-123", json={"count": "many"})
    assert r.status_code == 422 and "count" in r.json()["message"]
    assert store.count() == 0


def test_github_tag_push_and_create_accepted_branch_push_filtered(env):
    client, store, *_ = env
    ok = _gh(client, "gh-tags", "push", PUSH_TAG)
    assert ok.status_code == 200, ok.text
    delivery = store.get(ok.json()["id"])
    assert delivery.payload["trigger"]["body"]["ref"] == "refs/tags/v1.4.0"
    assert delivery.payload["trigger"]["headers"]["x-github-event"] == ["push"]
    assert _gh(client, "gh-tags", "create", CREATE_TAG).status_code == 200
    assert _gh(client, "gh-tags", "push", PUSH_MAIN).status_code == 204  # a branch push, tags: [v*]
    assert _gh(client, "gh-tags", "push", {**PUSH_TAG, "ref": "refs/tags/nightly"}).status_code == 204
    assert _gh(client, "gh-tags", "ping", {"zen": "Keep it simple."}).status_code == 204
    assert store.count() == 2


def test_github_bad_or_missing_signature_is_401_and_stores_nothing(env):
    client, store, *_ = env
    assert _gh(client, "gh-tags", "push", PUSH_TAG, secret="not-the-secret").status_code == 401
    assert _gh(client, "gh-tags", "push", PUSH_TAG, signature="").status_code == 401
    assert _gh(client, "gh-tags", "push", PUSH_TAG, signature="sha1=" + "0" * 40).status_code == 401
    # body tampered after signing
    raw = json.dumps(PUSH_TAG).encode()
    sig = github_signature(GH_SECRET, raw)
    r = client.post("/api/v1/executions/webhook/demo.hooks/release/gh-tags", content=raw.replace(b"v1.4.0", b"v9.9.9"),
                    headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": sig})
    assert r.status_code == 401
    assert GH_SECRET not in r.text
    assert store.count() == 0


def test_github_pull_request_actions(env):
    client, store, *_ = env
    assert _gh(client, "gh-prs", "pull_request", PR).status_code == 200
    assert _gh(client, "gh-prs", "pull_request", {**PR, "action": "synchronize"}).status_code == 200
    assert _gh(client, "gh-prs", "pull_request", {**PR, "action": "closed"}).status_code == 204
    other_base = {**PR, "pull_request": {**PR["pull_request"], "base": {"ref": "develop"}}}
    assert _gh(client, "gh-prs", "pull_request", other_base).status_code == 204
    assert _gh(client, "gh-prs", "push", PUSH_MAIN).status_code == 204
    assert store.count() == 2


def test_gitlab_token(env):
    client, store, *_ = env
    url = "/api/v1/executions/webhook/demo.hooks/release/gl"
    hdr = {"X-Gitlab-Event": "Merge Request Hook"}
    assert client.post(url, json=MR, headers={**hdr, "X-Gitlab-Token": "wrong"}).status_code == 401
    assert client.post(url, json=MR, headers=hdr).status_code == 401
    r = client.post(url, json=MR, headers={**hdr, "X-Gitlab-Token": GH_SECRET})
    assert r.status_code == 200
    stored = store.get(r.json()["id"])
    # the token is the secret itself: it is not kept with the delivery
    assert stored.payload["trigger"]["headers"]["x-gitlab-token"] == ["******"]
    closed = {**MR, "object_attributes": {**MR["object_attributes"], "action": "close"}}
    assert client.post(url, json=closed, headers={**hdr, "X-Gitlab-Token": GH_SECRET}).status_code == 204
    assert store.count() == 1


def test_overload_answers_429_with_retry_after(tmp_path, env):
    client, store, instance, flows = env
    app = build_app([flows], instance=instance, config=IntakeConfig(max_pending_per_flow=2))
    with TestClient(app) as small:
        codes = [small.post("/api/v1/executions/webhook/demo.hooks/plain/raw-key", json={}).status_code for _ in range(4)]
        r = small.post("/api/v1/executions/webhook/demo.hooks/plain/raw-key", json={})
    assert codes[:2] == [200, 200]
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_wait_is_bounded_then_202_with_the_ids(env):
    client, store, instance, flows = env
    app = build_app([flows], instance=instance, config=IntakeConfig(max_wait_seconds=0.5, wait_poll_seconds=0.1))
    with TestClient(app) as short:
        r = short.post("/api/v1/executions/webhook/demo.hooks/plain/wait-key", json={"who": "w"})
    body = r.json()
    assert r.status_code == 202, r.text  # no daemon here: the run never comes
    assert body["state"] == "CREATED" and body["runId"] is None and "has not ended after 0.5 s" in body["message"]
    assert store.get(body["deliveryId"]).status == "PENDING"  # stored all the same: the run will still happen


@pytest.mark.parametrize("options,message", [
    ("returnOutputs: true", "returnOutputs needs wait: true"),
    ("wait: true, responseContentType: text/plain", "responseContentType needs wait: true and returnOutputs: true"),
    ("wait: true, returnOutputs: true, responseContentType: text/html", "responseContentType"),
])
def test_wait_options_are_checked_at_load(tmp_path, options, message):
    from kestra_dagster.errors import FlowValidationError
    from kestra_dagster.model.loader import load_flow_file

    path = tmp_path / "w.yaml"
    path.write_text(f"""
id: w
namespace: demo.hooks
tasks: [{{id: t, type: io.kestra.plugin.core.log.Log, message: hi}}]
triggers:
  - {{id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: k, {options}}}
""")
    with pytest.raises(FlowValidationError, match=message):
        load_flow_file(path)


def test_the_webhook_fast_path_answers_every_url_shape_as_the_routes_did(env):
    """Kestra's URL with a tenant and with a trailing slash reaches the intake; HEAD and other
    methods still get Starlette's answers; the delivery route still answers."""
    client, store, *_ = env
    for url in ("/api/v1/executions/webhook/demo.hooks/plain/k-123/",
                "/api/v1/main/executions/webhook/demo.hooks/plain/k-123"):
        r = client.put(url, json={"who": "bob", "count": "1", "ref": "main"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
        assert client.get(r.json()["links"]["delivery"]).json()["state"] == "PENDING"
    assert client.delete("/api/v1/executions/webhook/demo.hooks/plain/k-123").status_code == 405
    assert client.head("/api/v1/executions/webhook/demo.hooks/plain/nope").status_code == 404
    assert client.post("/api/v1/executions/webhook/demo.hooks/plain").status_code == 404  # no key segment
    assert store.count() == 2


def test_a_failing_webhook_answers_500_and_logs_without_the_key(env, monkeypatch, caplog):
    client, store, *_ = env
    app = client.app
    while not isinstance(app, WebhookEndpoint):
        app = app.app

    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(app.intake, "handle", broken)
    caplog.set_level(logging.INFO, logger="kestra_dagster.webhooks")
    with TestClient(client.app, raise_server_exceptions=False) as other:
        r = other.post("/api/v1/executions/webhook/demo.hooks/plain/k-123", json={})
    assert r.status_code == 500 and r.text == "Internal Server Error"
    assert "boom" in caplog.text and "k-123" not in caplog.text


def test_a_client_gone_before_its_body_gets_no_answer_and_nothing_is_stored(env):
    import asyncio

    client, store, *_ = env
    app = client.app
    while not isinstance(app, WebhookEndpoint):
        app = app.app
    sent = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/executions/webhook/demo.hooks/plain/k-123",
             "headers": [(b"content-type", b"application/json")], "query_string": b""}
    asyncio.run(app(scope, receive, send))
    assert sent == [] and store.count() == 0
