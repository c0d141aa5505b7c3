"""The webhook intake: Kestra's webhook URL, durable before it answers.

``GET|POST|PUT /api/v1/executions/webhook/{namespace}/{flowId}/{key}`` (also with a tenant:
``/api/v1/{tenant}/executions/webhook/...``). Answers:

* **404** no such flow, or no enabled webhook trigger with that key (keys compared in constant
  time; a key may come from ``secret()``);
* **422** the key matches a trigger of a flow the code location does not load (unsupported task
  type, duplicate id…): the answer names the problem, nothing is stored (no run could follow);
* **401** a Git webhook whose signature/token is missing or wrong, or whose secret is empty
  (nothing stored);
* **400** a JSON body nested deeper than ``max_json_depth``;
* **413** body larger than ``max_body_bytes``;
* **422** the trigger's ``inputs`` do not render or are rejected by the flow's input types;
* **204** the trigger's ``conditions`` (or Git event filters) are false: nothing stored;
* **429 / 503** with ``Retry-After`` when too many deliveries wait for their run or the store
  cannot keep up (the client retries, nothing is dropped silently);
* **200** once the delivery is committed to the store: ``{"id", "deliveryId", "state": "CREATED",
  "runId": null, ...}``. ``GET /api/v1/webhook-deliveries/{id}`` gives the run id once known.

With the trigger's ``wait: true`` the answer waits for the run to end (Kestra's ``wait``): 200 with
the execution summary (``state``, ``runId``, ``executionId``), or with ``returnOutputs`` the flow's
``outputs`` (as JSON, or text with ``responseContentType: text/plain``); 500 when the execution
ended FAILED or KILLED (unless ``responseCode`` says otherwise). Kestra waits without limit; here
the wait is bounded by ``max_wait_seconds``, after which the answer is **202** with the ids so far
(the delivery is stored either way, so the run still happens). The run's Dagster end is the end:
a flow split at a Pause answers with the first part (state PAUSED). The outputs are read where the
Flow trigger reads ``trigger.outputs``: the run's output metadata, so secrets are masked and more
than 64 kB of outputs arrive as truncated text.

Keys and secrets never reach the logs: the access log masks the key segment of the path. The
caller's credential headers (``Authorization``, ``Cookie``, …) are not stored with the delivery
(``keep_credential_headers`` keeps them), so they never reach the database or ``trigger.headers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

from kestra_dagster.model.loader import LoadedFlow
from kestra_dagster.triggers.flow_index import FlowIndex
from kestra_dagster.triggers.render import flow_variables
from kestra_dagster.triggers.git_events import SECRET_HEADERS, SignatureError, event_matches, verify_signature
from kestra_dagster.triggers.json_limits import DEFAULT_MAX_JSON_DEPTH, text_depth
from kestra_dagster.triggers.models import Webhook
from kestra_dagster.triggers.store import (
    PENDING,
    Delivery,
    DeliveryStore,
    GroupCommitWriter,
    StoreOverloaded,
    StoreUnavailable,
    new_delivery_id,
)

log = logging.getLogger("kestra_dagster.webhooks")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
#: Request headers that carry the caller's credentials: not stored with a delivery by default.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-kestra-proxy-secret"})
WEBHOOK_PATHS = (
    "/api/v1/executions/webhook/{namespace}/{flow_id}/{key}",
    "/api/v1/{tenant}/executions/webhook/{namespace}/{flow_id}/{key}",
)


@dataclass
class IntakeConfig:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Requests handled at once; beyond that the intake answers 503 (Retry-After: 1).
    max_in_flight: int = 512
    #: Deliveries of one flow still waiting for their run; beyond that 429 (Retry-After: 5).
    max_pending_per_flow: int = 10_000
    #: Deliveries queued for the writer; beyond that 503.
    max_write_queue: int = 5_000
    #: Longest a ``wait: true`` call is held before it gets 202 with the ids (its slot counts in max_in_flight).
    max_wait_seconds: float = 60.0
    #: How often a waiting call looks for its run in the instance.
    wait_poll_seconds: float = 0.25
    #: JSON bodies nested deeper are refused with 400 (they would break every consumer after us).
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    #: Store the caller's Authorization/Cookie headers with the delivery (off: they are dropped).
    keep_credential_headers: bool = False


def trigger_variables(method: str, body_bytes: bytes, headers: list[tuple[str, str]],
                      query: list[tuple[str, str]], keep_credentials: bool = False) -> dict[str, Any]:
    """Kestra's ``trigger`` for a webhook: body (JSON object, else array, else text), headers, parameters."""
    text = body_bytes.decode("utf-8", errors="replace") if body_bytes else None
    body: Any = text
    if text:
        try:
            parsed = json.loads(text)
            if isinstance(parsed, (dict, list)):
                body = parsed
        except (ValueError, RecursionError):
            pass
    header_map: dict[str, list[str]] = {}
    for name, value in headers:
        name = name.lower()
        if name in CREDENTIAL_HEADERS and (not keep_credentials or name == "x-kestra-proxy-secret"):
            continue
        if name in SECRET_HEADERS:  # the header is the shared secret itself
            value = "******"
        header_map.setdefault(name, []).append(value)
    params: dict[str, list[str]] = {}
    for name, value in query:
        params.setdefault(name, []).append(value)
    return {"body": body, "headers": header_map, "parameters": params, "method": method}


class WebhookIntake:
    """Request handling, independent of the HTTP framework (tested directly and through HTTP)."""

    def __init__(self, flows: FlowIndex, store: DeliveryStore, config: IntakeConfig | None = None):
        self.flows = flows
        self.store = store
        self.config = config or IntakeConfig()
        self.writer = GroupCommitWriter(store, max_queue=self.config.max_write_queue)
        self._in_flight = 0
        self._pending_cache: dict[str, tuple[float, int]] = {}

    def close(self) -> None:
        self.writer.close()

    # ------------------------------------------------------------------ matching
    def find_trigger(self, namespace: str, flow_id: str, key: str) -> tuple[LoadedFlow, Webhook] | None:
        from kestra_dagster.triggers.render import render_secret

        loaded = self.flows.get(namespace, flow_id) or self.flows.refused_flow(namespace, flow_id)
        if loaded is None or loaded.flow.disabled:
            return None
        given = key.strip().encode()
        found = None
        for trigger in loaded.flow.triggers:
            if not isinstance(trigger, Webhook) or trigger.disabled:
                continue
            try:
                expected = render_secret(trigger.key, flow_variables(loaded.flow))
            except Exception as exc:  # noqa: BLE001 - a missing secret makes the trigger unreachable
                log.error("webhook %s of %s: its key cannot be rendered (%s)", trigger.id, loaded.flow.uid,
                          type(exc).__name__)
                continue
            # Compare against every trigger (no early exit) so timing does not tell which matched.
            if hmac.compare_digest(given, (expected or "").encode()) and found is None:
                found = (loaded, trigger)
        return found

    async def pending_count(self, flow_uid: str) -> int:
        """Deliveries of the flow still waiting for their run: counted at most once a second, off the
        event loop (a count can wait for the writer's lock), and incremented locally in between."""
        now = time.monotonic()
        cached = self._pending_cache.get(flow_uid)
        if cached and now - cached[0] < 1.0:
            return cached[1]
        self._pending_cache[flow_uid] = (now, cached[1] if cached else 0)  # one recount at a time
        count = await asyncio.to_thread(self.store.count, flow_uid, PENDING)
        self._pending_cache[flow_uid] = (time.monotonic(), count)
        return count

    # ------------------------------------------------------------------ one request
    async def handle(self, method: str, namespace: str, flow_id: str, key: str, headers: list[tuple[str, str]],
                     query: list[tuple[str, str]], read_body) -> tuple[int, Any, dict[str, str]]:
        """(status, body, extra headers): the body is JSON-able, or a ``str`` to send as text/plain.
        ``read_body(limit)`` returns bytes or None when over limit."""
        if self._in_flight >= self.config.max_in_flight:
            return 503, {"message": "the webhook intake is overloaded; retry later"}, {"Retry-After": "1"}
        self._in_flight += 1
        try:
            return await self._handle(method, namespace, flow_id, key, headers, query, read_body)
        finally:
            self._in_flight -= 1

    async def _handle(self, method, namespace, flow_id, key, headers, query, read_body):
        # Renders run on a render thread under a budget, never on this event loop (one slow
        # expression must not stall every other delivery).
        from kestra_dagster.triggers.conditions import ConditionContext, all_true
        from kestra_dagster.triggers.render import render_off_loop, renderer, run_off_loop

        match = self.find_trigger(namespace, flow_id, key)
        if match is None:
            return 404, {"message": f"no webhook for flow {namespace}.{flow_id} with this key"}, {}
        loaded, trigger = match
        flow = loaded.flow
        refusal = self.flows.refusal(namespace, flow_id)
        if refusal is not None:  # the key is right, but no run could follow: say why, store nothing
            return 422, {"message": f"flow {flow.uid} is not loaded by the code location, so its webhook cannot "
                                    f"start runs; fix the flow file: {refusal}"}, {}
        declared = next((v for k, v in headers if k.lower() == "content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.config.max_body_bytes:
            return 413, {"message": f"body larger than {self.config.max_body_bytes} bytes"}, {}
        raw = await read_body(self.config.max_body_bytes)
        if raw is None:
            return 413, {"message": f"body larger than {self.config.max_body_bytes} bytes"}, {}
        # nesting cannot exceed the number of opening brackets: count them (in C) before scanning
        if raw.lstrip()[:1] in (b"{", b"[") and raw.count(b"{") + raw.count(b"[") > self.config.max_json_depth:
            depth = text_depth(raw.decode("utf-8", errors="replace"))
            if depth > self.config.max_json_depth:
                return 400, {"message": f"the JSON body is nested {depth} levels deep; at most "
                                        f"{self.config.max_json_depth} are accepted"}, {}
        header_dict = {k.lower(): v for k, v in headers}
        if trigger.provider != "plain":
            try:
                secret = None
                if getattr(trigger, "secret", None) is not None:
                    from kestra_dagster.triggers.render import render_secret

                    secret = await run_off_loop(lambda: render_secret(trigger.secret, flow_variables(flow))) or ""  # empty: refused
                elif not getattr(trigger, "allowUnsigned", False):
                    secret = ""  # no secret and no explicit opt-out: refused, never "no check"
                verify_signature(trigger.provider, secret, header_dict, raw)
            except SignatureError as exc:
                return 401, {"message": f"signature check failed: {exc}"}, {}
            except Exception as exc:  # noqa: BLE001 - e.g. the secret is missing on this server
                log.error("webhook %s of %s: its secret cannot be rendered (%s)", trigger.id, flow.uid, type(exc).__name__)
                return 401, {"message": "signature check failed: the server cannot read the trigger's secret"}, {}
        trig = trigger_variables(method, raw, headers, query, self.config.keep_credential_headers)
        if trigger.provider != "plain":
            ok, reason = event_matches(trigger, trigger.provider, header_dict, trig["body"])
            if not ok:
                return 204, {}, {"X-Kestra-Skipped": reason[:200]}
        variables = {**flow_variables(flow), "trigger": trig}
        now_dt = _utcnow()
        try:
            if trigger.conditions and not await run_off_loop(lambda: all_true(
                list(trigger.conditions), ConditionContext(now=now_dt, variables=variables, render=renderer())
            )):
                return 204, {}, {}
        except Exception as exc:  # noqa: BLE001 - a condition that cannot be evaluated is the flow's error
            return 422, {"message": f"conditions of trigger {trigger.id} cannot be evaluated: {exc}"}, {}
        if trigger.inputs:
            try:
                from kestra_dagster.compiler.triggers import check_inputs

                check_inputs(flow, await render_off_loop(trigger.inputs, variables))
            except Exception as exc:  # noqa: BLE001 - InputError, ExpressionError
                return 422, {"message": f"inputs of trigger {trigger.id} are invalid: {exc}"}, {}
        if await self.pending_count(flow.uid) >= self.config.max_pending_per_flow:
            return 429, {"message": f"too many deliveries for {flow.uid} are waiting for their run; retry later"}, \
                {"Retry-After": "5"}
        delivery = Delivery(delivery_id=new_delivery_id(), flow_uid=flow.uid, trigger_id=trigger.id, status=PENDING,
                            payload={"trigger": trig, "receivedAt": now_dt.isoformat()}, run_id=None,
                            received_at=time.time())
        try:
            await self.writer.submit_async(delivery)
        except StoreOverloaded:
            return 503, {"message": "the webhook intake is overloaded; retry later"}, {"Retry-After": "1"}
        except StoreUnavailable as exc:
            log.error("delivery for %s not stored: %s", flow.uid, exc)
            return 503, {"message": "the delivery could not be stored; retry later"}, {"Retry-After": "2"}
        cached = self._pending_cache.get(flow.uid)
        if cached:  # count this delivery until the next real count
            self._pending_cache[flow.uid] = (cached[0], cached[1] + 1)
        accepted = {
            "id": delivery.delivery_id, "deliveryId": delivery.delivery_id, "namespace": flow.namespace,
            "flowId": flow.id, "triggerId": trigger.id, "state": "CREATED", "runId": None,
            "links": {"delivery": f"/api/v1/webhook-deliveries/{delivery.delivery_id}"},
        }
        if trigger.wait:
            return await self._wait_for_end(trigger, variables, accepted)
        return 200, accepted, {}

    # ------------------------------------------------------------------ wait / returnOutputs
    def _run_of(self, delivery_id: str):
        """(the delivery's Dagster run or None, why it will never have one or None)."""
        from dagster import RunsFilter

        from kestra_dagster.triggers.store import REJECTED, TAG_DELIVERY

        runs = self.store.instance.get_runs(filters=RunsFilter(tags={TAG_DELIVERY: delivery_id}), limit=1)
        if runs:
            return runs[0], None
        delivery = self.store.get(delivery_id)
        return None, (delivery.error if delivery is not None and delivery.status == REJECTED else None)

    async def _wait_for_end(self, trigger: Webhook, variables: dict[str, Any], accepted: dict[str, Any]):
        from kestra_dagster.compiler.triggers import kestra_state_of

        deadline = time.monotonic() + self.config.max_wait_seconds
        run = None
        while True:
            run, rejected = await asyncio.to_thread(self._run_of, accepted["id"])
            if rejected:
                return 422, {**accepted, "state": "REJECTED", "message": f"the delivery was rejected: {rejected}"}, {}
            if run is not None and run.is_finished:
                break
            if time.monotonic() >= deadline:
                state = "CREATED" if run is None else kestra_state_of(run)
                return 202, {**accepted, "state": state, "runId": run.run_id if run else None,
                             "message": f"the execution has not ended after {self.config.max_wait_seconds:g} s; "
                                        f"follow it at {accepted['links']['delivery']}"}, {}
            await asyncio.sleep(self.config.wait_poll_seconds)
        state = kestra_state_of(run)
        execution = {"id": run.tags.get("kestra/execution_id", run.run_id), "state": state}
        summary = {**accepted, "state": state, "runId": run.run_id, "executionId": execution["id"]}
        status = 500 if state in ("FAILED", "KILLED") else 200
        if not trigger.returnOutputs:
            return status, summary, {}
        from kestra_dagster.compiler.triggers import run_outputs

        task_outputs, outputs = await asyncio.to_thread(run_outputs, self.store.instance, run.run_id)
        if trigger.responseCode is not None:
            from kestra_dagster.triggers.render import render_off_loop

            try:  # rendered as Kestra does, against the ended execution (task outputs by task id)
                status = int(await render_off_loop(trigger.responseCode, {**variables, "execution": execution,
                                                                          "outputs": task_outputs}))
            except Exception as exc:  # noqa: BLE001 - the execution happened; say why the answer is odd
                return 500, {**summary, "message": f"responseCode of trigger {trigger.id} is not a status: {exc}"}, {}
        if trigger.responseContentType == "text/plain":
            return status, outputs if isinstance(outputs, str) else json.dumps(outputs, default=str), {}
        return status, outputs, {}

    def delivery_status(self, delivery_id: str) -> dict[str, Any] | None:
        delivery = self.store.get(delivery_id)
        if delivery is None:
            return None
        delivery = self.store.refresh(delivery)
        return {"id": delivery.delivery_id, "flow": delivery.flow_uid, "triggerId": delivery.trigger_id,
                "state": delivery.status, "runId": delivery.run_id, "error": delivery.error,
                "receivedAt": delivery.received_at, "launchedAt": delivery.launched_at}


def _utcnow():
    return datetime.now(timezone.utc)


# ----------------------------------------------------------------------------- HTTP


def build_webhook_routes(intake: WebhookIntake) -> list:
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def webhook(request: Request):
        p = request.path_params

        async def read_body(limit: int) -> bytes | None:
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
            return b"".join(chunks)

        status, body, headers = await intake.handle(
            request.method, p["namespace"], p["flow_id"], p["key"], list(request.headers.items()),
            list(request.query_params.multi_items()), read_body,
        )
        if status == 204:
            return Response(status_code=204, headers=headers)
        if isinstance(body, str):  # returnOutputs with responseContentType: text/plain
            return Response(body, status_code=status, headers=headers, media_type="text/plain")
        return JSONResponse(body, status_code=status, headers=headers)

    async def delivery(request: Request):
        info = await run_in_threadpool(intake.delivery_status, request.path_params["delivery_id"])
        if info is None:
            return JSONResponse({"message": "no such delivery"}, status_code=404)
        return JSONResponse(info)

    # with and without a trailing slash: no redirect (it would expose the intake's own address)
    routes = [Route(p, webhook, methods=["GET", "POST", "PUT"]) for path in WEBHOOK_PATHS for p in (path, path + "/")]
    routes.append(Route("/api/v1/webhook-deliveries/{delivery_id}", delivery, methods=["GET"]))
    return routes


#: ``WEBHOOK_PATHS`` (with or without a trailing slash) as one pattern: (namespace, flow id, key).
_WEBHOOK_PATH = re.compile(r"/api/v1/(?:[^/]+/)?executions/webhook/([^/]+)/([^/]+)/([^/]+)/?")


class _Disconnected(Exception):
    """The client went away before its body arrived: there is nobody to answer."""


class WebhookEndpoint:
    """ASGI: Kestra's webhook URL answered straight from the ASGI messages; every other request
    (deliveries, health, approvals, and the webhook URL's HEAD/405 answers) goes to ``fallback``.

    The webhook route is the intake's hot path: Starlette's middleware, routing, ``Request`` and
    ``Response`` objects around it cost a fifth of a delivery's CPU, with nothing they add here.
    """

    METHODS = frozenset({"GET", "POST", "PUT"})

    def __init__(self, intake: WebhookIntake, fallback):
        self.intake = intake
        self.fallback = fallback

    async def __call__(self, scope, receive, send):
        match = _WEBHOOK_PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] not in self.METHODS:
            return await self.fallback(scope, receive, send)
        started = False

        async def send_tracked(message):
            nonlocal started
            started = True
            await send(message)

        async def read_body(limit: int) -> bytes | None:
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > limit:
                        return None
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)

        try:
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            status, body, extra = await self.intake.handle(scope["method"], *match.groups(), headers, query, read_body)
            await _answer(send_tracked, status, body, extra)
        except _Disconnected:
            return
        except Exception:  # what Starlette's ServerErrorMiddleware does: log it, answer 500 if still possible
            log.exception("webhook %s %s failed", scope["method"], mask_path(scope["path"]))
            if not started:
                await _answer(send, 500, "Internal Server Error", {})


async def _answer(send, status: int, body: Any, headers: dict[str, str]) -> None:
    """One response, as Starlette's JSONResponse / Response would send it."""
    raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    if status == 204:
        payload = b""
    else:
        if isinstance(body, str):  # returnOutputs with responseContentType: text/plain
            payload, media = body.encode("utf-8"), b"text/plain; charset=utf-8"
        else:
            payload = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
            media = b"application/json"
        raw_headers += [(b"content-length", str(len(payload)).encode()), (b"content-type", media)]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


class MaskedAccessLog:
    """ASGI middleware: one log line per request, with webhook keys masked."""

    def __init__(self, app, logger: logging.Logger | None = None):
        self.app = app
        self.log = logger or log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.monotonic()
        status = {"code": 0}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.log.info("%s %s %s %.1fms", scope.get("method"), mask_path(scope.get("path", "")), status["code"],
                          (time.monotonic() - started) * 1000)


def mask_path(path: str) -> str:
    """The path with the webhook key (and anything after it) masked."""
    parts = path.split("/")
    if "webhook" in parts:
        i = parts.index("webhook")
        if len(parts) > i + 3:  # .../webhook/{namespace}/{flowId}/{key}[/...]
            parts[i + 3:] = ["******"]
    return "/".join(parts)


def build_app(flows_paths: list[str | os.PathLike], instance=None, config: IntakeConfig | None = None,
              extra_routes: list | None = None):
    """The Starlette app serving the webhook intake (plus ``extra_routes``, e.g. approvals)."""
    from dagster import DagsterInstance
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    instance = instance or DagsterInstance.get()
    intake = WebhookIntake(FlowIndex(flows_paths), DeliveryStore(instance), config)

    async def health(request):
        return JSONResponse({"status": "UP"})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        intake.close()

    routes = [Route("/health", health), *build_webhook_routes(intake), *(extra_routes or [])]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.router.redirect_slashes = False  # a redirect would show the intake's internal address
    app.state.intake = intake
    return MaskedAccessLog(WebhookEndpoint(intake, app))


def serve(app, host: str, port: int) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # This process logs a line per request: skip what its format never shows (the caller's frame,
    # thread, process and task names: a fifth of each line's cost)
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.logAsyncioTasks = False
    # proxy_headers off: nothing here reads the client address, and the front door is the proxy
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info", lifespan="on",
                backlog=2048, timeout_keep_alive=30, proxy_headers=False)
