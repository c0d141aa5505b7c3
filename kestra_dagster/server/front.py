"""The front door: one ASGI app on the public port, in front of dagster-webserver and the intake.

- ``GET /health``: unauthenticated; per-component state, 200 when every component is UP, else 503.
- Basic auth (when enabled) on everything else, except the intake's public webhook paths, which
  keep their own key/HMAC check (``intake.PUBLIC_PREFIXES``).
- The authenticated user is passed upstream in ``X-Kestra-User`` (the reviewer identity for
  approvals). A client-supplied ``X-Kestra-User`` is always removed first, so it can't be forged.
- Intake paths (``intake.ROUTE_PREFIXES``) are proxied to the intake; the rest (UI, GraphQL,
  including GraphQL subscriptions over WebSocket) to dagster-webserver.
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

USER_HEADER = b"x-kestra-user"
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailers",
              b"transfer-encoding", b"upgrade", b"host", USER_HEADER}
MAX_BODY = 64 * 1024 * 1024

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
    def __init__(self, auth: BasicAuthSettings, upstreams: Upstreams, health: HealthFn):
        self.auth = auth
        self.upstreams = upstreams
        self.health = health
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=5.0), follow_redirects=False)

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind not in ("http", "websocket"):
            return
        path: str = scope.get("path", "/")
        headers = [(k.lower(), v) for k, v in scope.get("headers", []) if k.lower() != USER_HEADER]
        if kind == "http" and path.rstrip("/") == "/health":
            await self._health(send, scope.get("method", "GET"))
            return
        public = intake.is_public(path)
        user = None
        if self.auth.enabled and not public:
            user = check_basic_auth(dict(headers).get(b"authorization"), self.auth)
            if user is None:
                await self._unauthorized(scope, send)
                return
        if user:
            headers.append((USER_HEADER, user.encode("utf-8")))
        target = self.upstreams.intake if intake.is_intake_path(path) else self.upstreams.webserver
        if target is None:
            await self._plain(send, 404, {"message": f"no service behind {path} in this process"})
            return
        if kind == "http":
            await self._proxy_http(scope, receive, send, target, headers)
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

    async def _health(self, send, method: str):
        try:
            ok, body = await self.health()
        except Exception as exc:  # noqa: BLE001 - health must answer
            ok, body = False, {"status": "DOWN", "error": f"{type(exc).__name__}: {exc}"}
        await self._plain(send, 200 if ok else 503, body)

    async def _proxy_http(self, scope, receive, send, base: str, headers: list):
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunks.append(msg.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_BODY:
                await self._plain(send, 413, {"message": "request body too large"})
                return
            if not msg.get("more_body"):
                break
        raw_path = scope.get("raw_path") or scope["path"].encode()
        url = base + raw_path.decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        client = scope.get("client") or ("", 0)
        fwd = [(k, v) for k, v in headers if k not in HOP_BY_HOP or k == USER_HEADER]
        fwd += [(b"x-forwarded-for", str(client[0]).encode()), (b"x-forwarded-proto", scope.get("scheme", "http").encode())]
        host = dict(headers).get(b"host")
        if host:
            fwd.append((b"x-forwarded-host", host))
        req = self.client.build_request(scope["method"], url, headers=fwd, content=b"".join(chunks))
        try:
            resp = await self.client.send(req, stream=True)
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
                             b"sec-websocket-protocol", b"origin"}
        extra = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers if k not in skip]
        if any(k == USER_HEADER for k, _ in headers):
            extra.append(("X-Kestra-User", dict(headers)[USER_HEADER].decode()))
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
