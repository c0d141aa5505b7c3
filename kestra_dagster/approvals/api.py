"""Deciding on gates: one service (``decide``) behind the HTTP API, the page and the CLI.

HTTP (served by the intake, ``kestra-dagster server webhooks``):

* ``POST /api/v1/executions/{executionId}/resume`` — Kestra's resume; the body's fields (JSON,
  form or multipart) are the ``onResume``/Approval inputs;
* ``POST /api/v1/executions/{executionId}/actions/review`` — ``{"decision": "APPROVE"|"DENY",
  "comment", "inputs"}`` (newer Kestra's Approval review);
* ``POST /api/v1/executions/{executionId}/approve`` and ``/deny`` — shorthand;
* ``GET /api/v1/approvals[?status=WAITING]`` — gates and what they wait for;
* ``GET /approvals`` — the page: paused executions, what to approve, Approve/Deny buttons.

Who decides is the authenticated user: HTTP basic auth against configured users, or a header set
by a trusted proxy (``server standalone`` puts its basic-auth user in ``X-Kestra-User``). When
auth is on, any name in the request body is ignored. With no auth configured (local use only),
the API accepts a ``by`` field and the page a name box. Configuration (environment):
``KESTRA_APPROVAL_USERS="alice:pw,bob:pw"``, ``KESTRA_APPROVAL_USER_HEADER=X-Kestra-User``.

The trusted header is only trusted when the request also carries the front door's per-start
secret (``X-Kestra-Proxy-Secret``, given to the intake on its stdin): any local process can reach
the intake's port, and must not be able to decide as someone else. Every deciding route refuses
browser requests from another origin (``Origin`` / ``Sec-Fetch-Site``: CSRF); behind the front
door the origin is compared with the host the browser used (``X-Forwarded-Host``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import json
import os
from dataclasses import dataclass, field
from typing import Any

from kestra_dagster.approvals.store import APPROVED, DENIED, WAITING, ApprovalStore, DecisionRefused, GateRecord

ANONYMOUS = "anonymous"
#: Largest decision body accepted (comment + inputs); larger is 413.
MAX_DECISION_BYTES = 1024 * 1024


class Unauthorized(Exception):
    pass


PROXY_SECRET_HEADER = "X-Kestra-Proxy-Secret"


@dataclass
class ApprovalAuth:
    users: dict[str, str] = field(default_factory=dict)
    trusted_header: str | None = None
    #: The front door's per-start secret: without it the trusted header is ignored.
    proxy_secret: str | None = field(default=None, repr=False)

    def from_proxy(self, headers) -> bool:
        """Whether the request comes from our front door (it carries the per-start secret)."""
        given = headers.get(PROXY_SECRET_HEADER, "")
        return bool(self.proxy_secret) and hmac.compare_digest(given.encode(), self.proxy_secret.encode())

    @property
    def enabled(self) -> bool:
        return bool(self.users or self.trusted_header)

    @classmethod
    def from_env(cls, env=None) -> "ApprovalAuth":
        env = os.environ if env is None else env
        users = {}
        for pair in (env.get("KESTRA_APPROVAL_USERS") or "").split(","):
            if ":" in pair:
                user, password = pair.split(":", 1)
                users[user.strip()] = password
        return cls(users=users, trusted_header=env.get("KESTRA_APPROVAL_USER_HEADER") or None,
                   proxy_secret=env.get("KESTRA_APPROVAL_PROXY_SECRET") or None)

    def identify(self, headers) -> str | None:
        """The authenticated user; None when auth is off; raises Unauthorized otherwise."""
        if not self.enabled:
            return None
        if self.trusted_header and self.from_proxy(headers):
            user = headers.get(self.trusted_header)
            if user:
                return user.strip()
        auth = headers.get("authorization", "")
        if self.users and auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthorized("malformed basic auth header") from None
            expected = self.users.get(user)
            # compare even for unknown users so timing does not reveal which exist
            if hmac.compare_digest((expected or "\x00").encode(), password.encode()) and expected is not None:
                return user
        raise Unauthorized("authentication required")


# ----------------------------------------------------------------------------- the service


def validate_inputs(spec: list[dict[str, Any]], given: dict[str, Any]) -> dict[str, Any]:
    """The decision's inputs checked against the gate's declarations (``onResume`` / ``inputs``)."""
    from pydantic import TypeAdapter

    from kestra_dagster.model.inputs import Input

    adapter = TypeAdapter(Input)
    out, errors = {}, []
    declared = set()
    for raw in spec:
        inp = adapter.validate_python(raw)
        declared.add(inp.id)
        value = given.get(inp.id)
        if value in (None, ""):
            value = inp.defaults
        if value is None:
            if inp.required:
                errors.append(f"input '{inp.id}' ({inp.type}) is required")
            continue
        try:
            out[inp.id] = json.loads(json.dumps(inp.coerce(value), default=str))
        except ValueError as exc:
            errors.append(f"input '{inp.id}' is not a valid {inp.type}: {exc}")
    unknown = sorted(set(given) - declared)
    if unknown:
        errors.append(f"unknown input(s) {unknown}; this gate expects {sorted(declared) or 'none'}")
    if errors:
        raise DecisionRefused("; ".join(errors), status=422)
    return out


def decide(instance, execution_id: str, approve: bool, by: str, comment: str | None = None,
           inputs: dict[str, Any] | None = None) -> GateRecord:
    """Approve (resume) or deny the gate the execution waits at; refused with a clear reason otherwise."""
    store = ApprovalStore(instance)
    record = store.waiting_for(execution_id)
    if record is None:
        raise DecisionRefused(f"execution {execution_id} has no Pause/Approval gate", status=404)
    if record.status != WAITING:
        import time

        raise DecisionRefused(store.refusal(record, time.time()))
    rule = record.spec.get("commentRequired", "NEVER")
    if not (comment or "").strip() and (rule == "ALWAYS" or (rule == "ON_DENY" and not approve)
                                          or (rule == "ON_APPROVE" and approve)):
        raise DecisionRefused(f"a comment is required to {'approve' if approve else 'deny'} '{record.gate_id}'",
                              status=422)
    values = validate_inputs(record.spec.get("inputs") or [], inputs or {}) if approve else {}
    return store.decide(record.approval_id, APPROVED if approve else DENIED, by=by, comment=comment or None,
                        inputs=values)


# ----------------------------------------------------------------------------- HTTP


def build_routes(auth: ApprovalAuth | None = None, instance=None) -> list:
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse
    from starlette.routing import Route

    auth = auth or ApprovalAuth.from_env()
    state: dict[str, Any] = {"instance": instance}

    def get_instance():
        if state["instance"] is None:
            from dagster import DagsterInstance

            state["instance"] = DagsterInstance.get()
        return state["instance"]

    def unauthorized(exc: Exception):
        return JSONResponse({"message": str(exc)}, status_code=401,
                            headers={"WWW-Authenticate": 'Basic realm="kestra-dagster approvals"'})

    async def limited_body(request: Request) -> bytes:
        """The body, read while counting: a decision is small, and the intake's port is reachable
        by local processes that do not pass through the front door's limits."""
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_DECISION_BYTES:
                raise DecisionRefused(f"the body is larger than {MAX_DECISION_BYTES} bytes", status=413)
            chunks.append(chunk)
        return b"".join(chunks)

    async def body_of(request: Request) -> dict[str, Any]:
        kind = request.headers.get("content-type", "")
        if "json" in kind:
            from kestra_dagster.triggers.json_limits import DEFAULT_MAX_JSON_DEPTH, text_depth

            raw = (await limited_body(request)).decode("utf-8", errors="replace")
            if text_depth(raw) > DEFAULT_MAX_JSON_DEPTH:
                raise DecisionRefused(f"the JSON body is nested more than {DEFAULT_MAX_JSON_DEPTH} levels deep",
                                      status=400)
            try:
                data = json.loads(raw) if raw.strip() else {}
            except ValueError as exc:
                raise DecisionRefused(f"the body is not valid JSON: {exc}", status=400) from None
            return data if isinstance(data, dict) else {}
        if "x-www-form-urlencoded" in kind:  # parsed here: no python-multipart needed for forms
            from urllib.parse import parse_qsl

            return dict(parse_qsl((await limited_body(request)).decode("utf-8", errors="replace"),
                                  keep_blank_values=True))
        if "multipart/form-data" in kind:  # Kestra's resume sends multipart; needs python-multipart
            form = await request.form()
            return {k: v for k, v in form.items() if isinstance(v, str)}
        return {}

    def cross_site(request: Request):
        """A 403 for a browser request from another origin (CSRF), else None."""
        from kestra_dagster.server.request_guard import cross_site_problem

        headers = {k.encode("latin-1"): v.encode("latin-1") for k, v in request.headers.items()}
        forwarded = request.headers.get("x-forwarded-host") if auth.from_proxy(request.headers) else None
        problem = cross_site_problem(request.method, headers, forwarded_host=forwarded)
        return JSONResponse({"message": problem}, status_code=403) if problem else None

    async def _decide(request: Request, approve: bool | None):
        refused = cross_site(request)
        if refused is not None:
            return refused
        try:
            user = auth.identify(request.headers)
        except Unauthorized as exc:
            return unauthorized(exc)
        try:
            data = await body_of(request)
        except DecisionRefused as exc:
            return JSONResponse({"message": str(exc)}, status_code=exc.status)
        execution_id = request.path_params["execution_id"]
        if approve is None:  # /actions/review
            decision = str(data.get("decision", "")).upper()
            if decision not in ("APPROVE", "APPROVED", "DENY", "DENIED"):
                return JSONResponse({"message": "decision must be APPROVE or DENY"}, status_code=422)
            approve = decision.startswith("APPROVE")
            inputs = data.get("inputs") or {}
        elif request.url.path.endswith("/resume"):
            inputs = {k: v for k, v in data.items() if k not in ("by", "comment")}
        else:
            inputs = data.get("inputs") or {}
        by = user or str(data.get("by") or ANONYMOUS)
        try:
            record = await run_in_threadpool(decide, get_instance(), execution_id, approve, by, data.get("comment"), inputs)
        except DecisionRefused as exc:
            return JSONResponse({"message": str(exc)}, status_code=exc.status)
        return JSONResponse(record.public())

    async def resume(request: Request):
        return await _decide(request, True)

    async def approve(request: Request):
        return await _decide(request, True)

    async def deny(request: Request):
        return await _decide(request, False)

    async def review(request: Request):
        return await _decide(request, None)

    async def list_api(request: Request):
        try:
            auth.identify(request.headers)
        except Unauthorized as exc:
            return unauthorized(exc)
        status = request.query_params.get("status")
        records = await run_in_threadpool(lambda: ApprovalStore(get_instance()).list(status=status))
        return JSONResponse([r.public() for r in records])

    async def page(request: Request):
        try:
            user = auth.identify(request.headers)
        except Unauthorized as exc:
            return unauthorized(exc)
        records = await run_in_threadpool(lambda: ApprovalStore(get_instance()).list(limit=100))
        return HTMLResponse(render_page(records, user, auth.enabled, request.query_params.get("msg")))

    async def page_decide(request: Request):
        refused = cross_site(request)
        if refused is not None:
            return refused
        try:
            user = auth.identify(request.headers)
        except Unauthorized as exc:
            return unauthorized(exc)
        try:
            form = await body_of(request)
        except DecisionRefused as exc:
            return JSONResponse({"message": str(exc)}, status_code=exc.status)
        record = await run_in_threadpool(ApprovalStore(get_instance()).get, request.path_params["approval_id"])
        if record is None:
            return RedirectResponse("/approvals?msg=" + _q("no such gate"), status_code=303)
        approve_it = form.get("action") == "approve"
        inputs = {k[len("input."):]: v for k, v in form.items() if k.startswith("input.") and v != ""}
        by = user or (str(form.get("by") or "").strip() or ANONYMOUS)
        try:
            done = await run_in_threadpool(decide, get_instance(), record.execution_id, approve_it, by,
                                           str(form.get("comment") or "") or None, inputs)
            msg = f"{done.decision} '{done.gate_id}' of execution {done.execution_id} as {done.decided_by}"
        except DecisionRefused as exc:
            msg = f"refused: {exc}"
        return RedirectResponse("/approvals?msg=" + _q(msg), status_code=303)

    prefix = "/api/v1/executions/{execution_id}"
    return [
        Route(f"{prefix}/resume", resume, methods=["POST"]),
        Route(f"{prefix}/approve", approve, methods=["POST"]),
        Route(f"{prefix}/deny", deny, methods=["POST"]),
        Route(f"{prefix}/actions/review", review, methods=["POST"]),
        Route("/api/v1/approvals", list_api, methods=["GET"]),
        Route("/approvals", page, methods=["GET"]),
        Route("/approvals/{approval_id}/decide", page_decide, methods=["POST"]),
    ]


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text[:300])


def render_page(records: list[GateRecord], user: str | None, auth_on: bool, message: str | None) -> str:
    e = html.escape
    waiting = [r for r in records if r.status == WAITING]
    decided = [r for r in records if r.status != WAITING][:20]
    rows = []
    for r in waiting:
        p = r.public()
        fields = "".join(
            f'<label>{e(str(i.get("id")))} ({e(str(i.get("type", "STRING")))})'
            f'<input name="input.{e(str(i.get("id")))}" data-input="{e(str(i.get("id")))}"></label>'
            for i in p["expects"]
        )
        who = "" if auth_on else '<label>Your name <input name="by" required></label>'
        summary = json.dumps(p["summary"].get("outputs"), indent=2, default=str)
        description = p["summary"].get("description") or ""
        rows.append(f"""
<section class="gate" id="{e(r.approval_id)}" data-execution="{e(r.execution_id)}">
  <h2>{e(r.flow_uid)} — <code>{e(r.gate_id)}</code> ({e(p["type"])})</h2>
  <p>Execution <code class="execution">{e(r.execution_id)}</code> waiting since {e(p["created"] or "")}
     {f'— expires {e(p["due"])} (then {e(str(r.spec.get("expireBehavior")))})' if p["due"] else "— no expiry"}</p>
  {f'<p class="description">{e(description)}</p>' if description else ''}
  <details open><summary>What to approve (outputs so far)</summary><pre>{e(summary)}</pre></details>
  <form method="post" action="/approvals/{e(r.approval_id)}/decide">
    {fields}{who}
    <label>Comment <textarea name="comment"></textarea></label>
    <button name="action" value="approve" class="approve">{e(p["decisions"]["approve"])}</button>
    <button name="action" value="deny" class="deny">{e(p["decisions"]["deny"])}</button>
  </form>
</section>""")
    done = "".join(
        f"<tr><td>{e(r.flow_uid)}</td><td><code>{e(r.execution_id)}</code></td><td>{e(r.gate_id)}</td>"
        f"<td class='decision'>{e(r.decision or '')}</td><td>{e(r.decided_by or '')}</td><td>{e(r.public()['on'] or '')}</td></tr>"
        for r in decided
    )
    banner = f'<p class="message">{e(message)}</p>' if message else ""
    signed = f"Signed in as <b>{e(user)}</b>" if user else ("Authentication is off" if not auth_on else "")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Approvals — kestra-dagster</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto}} section.gate{{border:1px solid #ccc;
padding:1rem;margin:1rem 0;border-radius:6px}} label{{display:block;margin:.4rem 0}} pre{{background:#f6f6f6;
padding:.5rem;overflow:auto}} .approve{{background:#2e7d32;color:#fff}} .deny{{background:#c62828;color:#fff}}
button{{padding:.4rem 1rem;margin-right:.5rem;border:0;border-radius:4px}}</style></head>
<body><h1>Paused executions</h1><p>{signed}</p>{banner}
{''.join(rows) or '<p class="empty">Nothing is waiting for a decision.</p>'}
<h2>Recent decisions</h2><table><tr><th>flow</th><th>execution</th><th>gate</th><th>decision</th><th>by</th><th>on</th></tr>
{done}</table></body></html>"""
