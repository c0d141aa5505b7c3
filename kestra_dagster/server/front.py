"""The front door: one ASGI app on the public port, in front of dagster-webserver and the intake.

- ``GET /health``: unauthenticated; per-component state, 200 when every component is UP, else 503.
- Basic auth (when enabled) on everything else, except the intake's public webhook paths, which
  keep their own key/HMAC check (``intake.PUBLIC_PREFIXES``).
- The authenticated user is passed upstream in ``X-Kestra-User`` (the reviewer identity for
  approvals), with the per-start secret in ``X-Kestra-Proxy-Secret`` that proves the header comes
  from this front door. Client-supplied copies of both are always removed first.
- Intake paths (``intake.ROUTE_PREFIXES``) are proxied to the intake; the rest (UI, GraphQL,
  including GraphQL subscriptions over WebSocket) to dagster-webserver.

Limits (``FrontLimits``), so no request can make this process grow: bodies are streamed to the
service behind, never buffered, and counted while they stream: over the limit (declared or
reached) the answer is 413 and nothing more is kept; at most ``max_concurrent`` requests are
proxied at once (beyond: 503 + Retry-After). Paths are checked before auth (``request_guard``),
state-changing browser requests and WebSockets from another origin are refused (CSRF), GraphQL
mutations over GET are refused, and failed logins are throttled per client address.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
from dataclasses import dataclass
from typing import Awaitable, Callable

import httpx

from kestra_dagster.config import BasicAuthSettings
from kestra_dagster.server import intake
from kestra_dagster.server.request_guard import (
    LoginThrottle,
    cross_site_problem,
    graphql_get_mutation,
    path_problem,
)

USER_HEADER = b"x-kestra-user"
PROXY_SECRET_HEADER = intake.PROXY_SECRET_HEADER.lower().encode()
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailers",
              b"transfer-encoding", b"upgrade", b"host", USER_HEADER, PROXY_SECRET_HEADER}


@dataclass(frozen=True)
class FrontLimits:
    """Bounds of the front door (``kestra.server.*`` / ``kestra.webhooks.max-body-bytes``)."""

    #: Webhook trigger bodies (the public paths): the intake's ``max-body-bytes``.
    webhook_body_bytes: int = 1024 * 1024
    #: Every other body (GraphQL, approvals): Kestra's default request size limit, 10 MB.
    body_bytes: int = 10 * 1024 * 1024
    #: Requests proxied at once; beyond that 503 with Retry-After.
    max_concurrent: int = 256
    #: An oversize body is read and thrown away up to this much (so the client sees the 413),
    #: then the connection is closed.
    drain_bytes: int = 64 * 1024 * 1024
    drain_seconds: float = 30.0


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass

HealthFn = Callable[[], Awaitable[tuple[bool, dict]]]


def check_basic_auth(header: bytes | None, auth: BasicAuthSettings) -> str | None:
    """The user name when ``header`` carries the configured credentials, else None (constant time)."""
    if not header or not header[:6].lower() == b"basic ":
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    ok_user = hmac.compare_digest(user.encode(), auth.username.encode())
    ok_pass = hmac.compare_digest(password.encode(), auth.password.encode())
    return user if ok_user and ok_pass else None


@dataclass
class Upstreams:
    webserver: str | None  # http://127.0.0.1:PORT
    intake: str | None = None


class FrontApp:
    def __init__(self, auth: BasicAuthSettings, upstreams: Upstreams, health: HealthFn,
                 limits: FrontLimits | None = None, proxy_secret: str | None = None,
                 public_origins: tuple[str, ...] = ()):
        self.auth = auth
        self.upstreams = upstreams
        self.health = health
        self.limits = limits or FrontLimits()
        #: Sent to the intake with every request: proves X-Kestra-User was set by this front door.
        self.proxy_secret = proxy_secret
        #: Origins accepted besides the request's own host (``kestra.url``: behind a proxy rewriting Host).
        self.public_origins = tuple(public_origins)
        self.throttle = LoginThrottle()
        self._active = 0
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=5.0), follow_redirects=False,
                                        limits=httpx.Limits(max_connections=self.limits.max_concurrent))

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind not in ("http", "websocket"):
            return
        path: str = scope.get("path", "/")
        method = scope.get("method", "GET")
        headers = [(k.lower(), v) for k, v in scope.get("headers", [])
                   if k.lower() not in (USER_HEADER, PROXY_SECRET_HEADER)]
        header_map = dict(headers)
        problem = path_problem(path, scope.get("raw_path"))
        if problem:
            await self._refuse(scope, receive, send, 400, problem)
            return
        if kind == "http" and path.rstrip("/") == "/health":
            await self._health(send, header_map)
            return
        public = intake.is_public(path)
        user = None
        if self.auth.enabled and not public:
            client = (scope.get("client") or ("?", 0))[0]
            wait = self.throttle.retry_after(client)
            if wait:
                await self._refuse(scope, receive, send, 429, "too many failed logins; retry later",
                                   [(b"retry-after", str(wait).encode())])
                return
            user = check_basic_auth(header_map.get(b"authorization"), self.auth)
            if user is None:
                if header_map.get(b"authorization"):
                    self.throttle.failed(client)
                await self._unauthorized(scope, send)
                return
            self.throttle.succeeded(client)
        if not public:
            problem = cross_site_problem(method, header_map, websocket=kind == "websocket",
                                         allowed_origins=self.public_origins)
            if problem:
                await self._refuse(scope, receive, send, 403, problem)
                return
        if kind == "http" and graphql_get_mutation(method, path, scope.get("query_string") or b""):
            await self._plain(send, 405, {"message": "GraphQL mutations must be sent with POST"},
                              [(b"allow", b"POST")])
            return
        if user:
            headers.append((USER_HEADER, user.encode("utf-8")))
        target = self.upstreams.intake if intake.is_intake_path(path) else self.upstreams.webserver
        if target is None:
            await self._plain(send, 404, {"message": f"no service behind {path} in this process"})
            return
        if target == self.upstreams.intake and self.proxy_secret:
            headers.append((PROXY_SECRET_HEADER, self.proxy_secret.encode()))
        if kind == "http":
            limit = self.limits.webhook_body_bytes if public else self.limits.body_bytes
            declared = header_map.get(b"content-length", b"")
            if declared.isdigit() and int(declared) > limit:
                await self._too_large(receive, send, limit)
                return
            if self._active >= self.limits.max_concurrent:
                await self._plain(send, 503, {"message": "the server is busy; retry later"}, [(b"retry-after", b"1")])
                return
            self._active += 1
            try:
                await self._proxy_http(scope, receive, send, target, headers, limit)
            finally:
                self._active -= 1
        else:
            await self._proxy_ws(scope, receive, send, target, headers)

    # ------------------------------------------------------------------ helpers
    async def _lifespan(self, receive, send):
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _plain(self, send, status: int, body: dict, extra: list | None = None):
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                                (b"cache-control", b"no-store"), *(extra or [])]})
        await send({"type": "http.response.body", "body": data})

    async def _unauthorized(self, scope, send):
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
            return
        realm = self.auth.realm.replace('"', "")
        await self._plain(send, 401, {"message": "Unauthorized"},
                          [(b"www-authenticate", f'Basic realm="{realm}", charset="UTF-8"'.encode())])

    async def _health(self, send, header_map: dict):
        try:
            ok, body = await self.health()
        except Exception as exc:  # noqa: BLE001 - health must answer
            ok, body = False, {"status": "DOWN", "error": f"{type(exc).__name__}: {exc}"}
        if self.auth.enabled and check_basic_auth(header_map.get(b"authorization"), self.auth) is None:
            # open for probes, but the details (components, PIDs, errors) only for authenticated users
            body = {"status": body.get("status", "UP" if ok else "DOWN")}
        await self._plain(send, 200 if ok else 503, body)

    async def _refuse(self, scope, receive, send, status: int, message: str, extra: list | None = None):
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4000 + status})
            return
        await self._plain(send, status, {"message": message}, extra)

    async def _drain(self, receive) -> bool:
        """Read and discard the rest of the body (bounded); True when it was read to its end."""
        seen = 0
        deadline = asyncio.get_running_loop().time() + self.limits.drain_seconds
        try:
            while seen <= self.limits.drain_bytes:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return False
                msg = await asyncio.wait_for(receive(), remaining)
                if msg["type"] == "http.disconnect":
                    return False
                seen += len(msg.get("body", b""))
                if not msg.get("more_body"):
                    return True
        except asyncio.TimeoutError:
            return False
        return False

    async def _too_large(self, receive, send, limit: int):
        drained = await self._drain(receive)
        extra = [] if drained else [(b"connection", b"close")]
        await self._plain(send, 413, {"message": f"request body larger than {limit} bytes"}, extra)

    async def _proxy_http(self, scope, receive, send, base: str, headers: list, limit: int):
        first = await receive()
        if first["type"] == "http.disconnect":
            return
        size = len(first.get("body", b""))
        if size > limit:
            await self._too_large(receive, send, limit)
            return
        state = {"size": size}

        async def stream():
            """The body as it arrives, counted: never more than one chunk held here."""
            if first.get("body"):
                yield first["body"]
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    raise ClientGone()
                chunk = msg.get("body", b"")
                state["size"] += len(chunk)
                if state["size"] > limit:
                    raise BodyTooLarge()
                if chunk:
                    yield chunk
                if not msg.get("more_body"):
                    return

        content = stream() if first.get("more_body") else first.get("body", b"")
        raw_path = scope.get("raw_path") or scope["path"].encode()
        url = base + raw_path.decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        client = scope.get("client") or ("", 0)
        fwd = [(k, v) for k, v in headers if k not in HOP_BY_HOP or k in (USER_HEADER, PROXY_SECRET_HEADER)]
        fwd += [(b"x-forwarded-for", str(client[0]).encode()), (b"x-forwarded-proto", scope.get("scheme", "http").encode())]
        host = dict(headers).get(b"host")
        if host:
            fwd.append((b"x-forwarded-host", host))
        req = self.client.build_request(scope["method"], url, headers=fwd, content=content)
        try:
            resp = await self.client.send(req, stream=True)
        except BodyTooLarge:
            await self._too_large(receive, send, limit)
            return
        except ClientGone:
            return
        except httpx.HTTPError as exc:
            await self._plain(send, 502, {"message": f"upstream unavailable: {type(exc).__name__}"})
            return
        try:
            out = [(k, v) for k, v in resp.headers.raw if k.lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": resp.status_code, "headers": out})
            async for chunk in resp.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await resp.aclose()

    async def _proxy_ws(self, scope, receive, send, base: str, headers: list):
        from websockets.asyncio.client import connect

        msg = await receive()
        if msg["type"] != "websocket.connect":
            return
        url = "ws" + base[len("http"):] + scope["path"]
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        skip = HOP_BY_HOP | {b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
                             b"sec-websocket-protocol"}
        extra = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers if k not in skip]
        for name in (USER_HEADER, PROXY_SECRET_HEADER):
            if name in dict(headers):
                extra.append((name.decode(), dict(headers)[name].decode()))
        try:
            upstream = await connect(url, subprotocols=scope.get("subprotocols") or None,
                                     additional_headers=extra, open_timeout=10, max_size=None)
        except Exception:  # noqa: BLE001 - upstream down or refused
            await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})

        async def client_to_upstream():
            while True:
                m = await receive()
                if m["type"] == "websocket.receive":
                    await upstream.send(m["text"] if m.get("text") is not None else m.get("bytes") or b"")
                elif m["type"] == "websocket.disconnect":
                    return

        async def upstream_to_client():
            async for data in upstream:
                if isinstance(data, str):
                    await send({"type": "websocket.send", "text": data})
                else:
                    await send({"type": "websocket.send", "bytes": data})

        tasks = [asyncio.create_task(client_to_upstream()), asyncio.create_task(upstream_to_client())]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
        finally:
            await upstream.close()
            try:
                await send({"type": "websocket.close", "code": 1000})
            except Exception:  # noqa: BLE001 - client already gone
                pass
