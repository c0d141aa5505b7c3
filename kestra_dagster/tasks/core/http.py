"""``io.kestra.plugin.core.http.Request``: one HTTP call, the response kept as outputs.

``HttpTask`` (Kestra's ``AbstractHttp``) holds the properties, rendering and masking every core
HTTP task shares, and ``send`` streams a response body to a sink: Request keeps it in memory
(bounded), ``http_download.Download`` writes it to a file.

Mirrors Kestra's ``AbstractHttp``/``Request`` and its ``HttpConfiguration`` (``options``):
``uri``, ``method`` (GET), ``headers``, ``body`` (a map or list is sent as JSON), ``formData``
(URL-encoded, or multipart when ``contentType: multipart/form-data``; ``kestra://`` values are
uploaded as files), ``contentType``, ``options.{timeout, auth, proxy, ssl, followRedirects,
allowFailed, logs, …}`` plus the deprecated spellings (``options.connectTimeout``,
``options.readTimeout``, ``options.basicAuthUser``…, top-level ``allowFailed``, ``sslOptions``,
``basicAuthUser``/``basicAuthPassword``).

Outputs: ``uri``, ``code``, ``headers`` (name → list of values, names as the server sent them),
``body`` (text; JSON stays a string, as in Kestra). A response code >= 400 fails the task unless
``allowFailed``; error messages never contain credentials or secret values.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import httpx
from pydantic import Field

from kestra_dagster.engine.storage import is_storage_uri
from kestra_dagster.errors import TaskFailed, TaskKilled
from kestra_dagster.model.common import Duration, KestraModel, parse_duration
from kestra_dagster.tasks.base import RunnableTask

#: Kestra's default ``options.maxContentLength`` (10 MB).
DEFAULT_MAX_CONTENT_LENGTH = 10 * 1024 * 1024
#: Kestra's default ``options.timeout.readIdleTimeout``.
DEFAULT_READ_TIMEOUT = "PT5M"
#: No connect timeout in Kestra by default; we still bound it so a black-holed host fails.
DEFAULT_CONNECT_TIMEOUT = "PT1M"
ERROR_BODY_LIMIT = 500
_SENSITIVE_HEADER_WORDS = ("authorization", "token", "api-key", "apikey", "secret", "cookie", "password")
_POLL = 0.05
_USERINFO = re.compile(r"//[^/?#@]*@")


# --------------------------------------------------------------------------- options
class TimeoutOptions(KestraModel):
    connectTimeout: Duration | None = None
    readIdleTimeout: Duration | None = None


class AuthOptions(KestraModel):
    """``{type: BASIC, username, password}`` | ``{type: BEARER, token}`` | ``{type: DIGEST, …}``."""

    type: str
    username: str | None = None
    password: str | None = None
    token: str | None = None


class ProxyOptions(KestraModel):
    type: str | None = None  # DIRECT | HTTP | SOCKS
    address: str | None = None
    port: int | str | None = None
    username: str | None = None
    password: str | None = None


class SslOptions(KestraModel):
    insecureTrustAllCertificates: bool | str | None = None


class HttpOptions(KestraModel):
    """Kestra's ``HttpConfiguration``, current and deprecated properties."""

    timeout: TimeoutOptions | None = None
    proxy: ProxyOptions | None = None
    auth: AuthOptions | None = None
    ssl: SslOptions | None = None
    followRedirects: bool | str = True
    allowFailed: bool | str | None = None
    defaultCharset: str | None = "UTF-8"
    logs: list[str] | None = None
    # deprecated spellings
    connectTimeout: Duration | None = None
    readTimeout: Duration | None = None
    readIdleTimeout: Duration | None = None
    connectionPoolIdleTimeout: Duration | None = None
    maxContentLength: int | None = Field(default=None, ge=1)
    proxyType: str | None = None
    proxyAddress: str | None = None
    proxyPort: int | str | None = None
    proxyUsername: str | None = None
    proxyPassword: str | None = None
    basicAuthUser: str | None = None
    basicAuthPassword: str | None = None
    logLevel: str | None = None




def _render_seconds(ctx, value: str | None, prop: str, default: str | None) -> float | None:
    raw = value if value is not None else default
    if raw is None:
        return None
    text = ctx.render_str(raw, prop=prop)
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise TaskFailed(f"property '{prop}': {exc}") from None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


# --------------------------------------------------------------------------- task
@dataclass
class Prepared:
    """One request ready to send: what httpx needs, plus how to name and mask it in messages."""

    method: str
    uri: str
    headers: list[tuple[str, str]]
    auth: httpx.Auth | None
    content: bytes | None
    data: Any
    files: Any
    client_kwargs: dict[str, Any]
    allow_failed: bool
    logs: set[str]
    where: str
    secrets: set[str]
    ctx: Any = field(repr=False)

    def mask(self, text: str) -> str:
        text = self.ctx.mask(text)
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret and len(secret) >= 3:
                text = text.replace(secret, "******")
        return text


class HttpTask(RunnableTask):
    """Kestra's ``AbstractHttp``: the properties and the client every core HTTP task shares."""

    compute_kind: ClassVar[str | None] = "http"

    uri: str
    method: str = "GET"
    headers: dict[str, Any] | None = None
    body: Any = None
    formData: dict[str, Any] | None = None
    contentType: str | None = "application/json"
    options: HttpOptions | None = None
    # deprecated top-level spellings
    allowFailed: bool | str | None = None
    sslOptions: SslOptions | None = None
    basicAuthUser: str | None = None
    basicAuthPassword: str | None = None

    def prepare(self, ctx) -> Prepared:
        """Render everything the request needs; secrets it carries are remembered for masking."""
        ctx.check_cancelled()
        opts = self.options or HttpOptions()
        secrets: set[str] = set()
        uri = self._uri(ctx, secrets)
        method = (ctx.render_str(self.method, prop="method") or "GET").strip().upper()
        allow_failed = self._allow_failed(ctx, opts)
        headers = self._headers(ctx, secrets)
        auth = self._auth(ctx, opts, secrets, headers)
        content, data, files, body_headers = self._payload(ctx)
        for name, value in body_headers.items():
            if not any(k.lower() == name.lower() for k, _ in headers):
                headers.append((name, value))

        timeout = httpx.Timeout(
            connect=_render_seconds(ctx, (opts.timeout.connectTimeout if opts.timeout else None) or opts.connectTimeout,
                                    "options.timeout.connectTimeout", DEFAULT_CONNECT_TIMEOUT),
            read=_render_seconds(ctx, (opts.timeout.readIdleTimeout if opts.timeout else None) or opts.readTimeout
                                 or opts.readIdleTimeout, "options.timeout.readIdleTimeout", DEFAULT_READ_TIMEOUT),
            write=None,
            pool=None,
        )
        ssl = opts.ssl or self.sslOptions
        verify = not (ssl and ssl.insecureTrustAllCertificates is not None
                      and ctx.render_bool(ssl.insecureTrustAllCertificates, "options.ssl.insecureTrustAllCertificates"))
        client_kwargs: dict[str, Any] = dict(
            timeout=timeout,
            follow_redirects=ctx.render_bool(opts.followRedirects, "options.followRedirects"),
            verify=verify,
            proxy=self._proxy(ctx, opts, secrets),
        )
        prepared = Prepared(method=method, uri=uri, headers=headers, auth=auth, content=content, data=data,
                            files=files, client_kwargs=client_kwargs, allow_failed=allow_failed,
                            logs=self._log_types(opts), where="", secrets=secrets, ctx=ctx)
        prepared.where = f"{method} {prepared.mask(_strip_userinfo(uri))}"
        if "REQUEST_HEADERS" in prepared.logs:
            ctx.logger.info(prepared.mask(f"request headers: {_redact_headers(headers)}"))
        if "REQUEST_BODY" in prepared.logs and content is not None:
            ctx.logger.info(prepared.mask(f"request body: {content[:2000].decode('utf-8', 'replace')}"))
        return prepared

    def error_message(self, prepared: Prepared, response: httpx.Response, body: str | None) -> str:
        """The failure of an error response (>= 400 without allowFailed), its body clipped and masked."""
        snippet = (body or "").strip()
        if len(snippet) > ERROR_BODY_LIMIT:
            snippet = snippet[:ERROR_BODY_LIMIT] + f"… ({len(body or '')} characters in all)"
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        message = f"{prepared.where} failed with response code {response.status_code}{reason}"
        if snippet:
            message += f"; response body: {snippet}"
        message += " (set options.allowFailed: true to keep going on error responses)"
        return prepared.mask(message)


    # ----------------------------------------------------------------- pieces
    def _uri(self, ctx, secrets: set[str]) -> str:
        uri = (ctx.render_str(self.uri, prop="uri") or "").strip().replace(" ", "%20")
        try:
            url = httpx.URL(uri)
        except Exception as exc:  # httpx.InvalidURL and friends
            raise TaskFailed(f"invalid uri {ctx.mask(uri)!r}: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise TaskFailed(f"uri must be an absolute http:// or https:// URL, got {ctx.mask(uri)!r}")
        if url.password:
            secrets.add(url.password)
        return uri

    def _allow_failed(self, ctx, opts: HttpOptions) -> bool:
        if opts.allowFailed is not None:
            return ctx.render_bool(opts.allowFailed, "options.allowFailed")
        if self.allowFailed is not None:
            return ctx.render_bool(self.allowFailed, "allowFailed")
        return False

    def _headers(self, ctx, secrets: set[str]) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        rendered = ctx.render(self.headers or {}, prop="headers") or {}
        if not isinstance(rendered, dict):
            raise TaskFailed(f"property 'headers' must be a map, got {type(rendered).__name__}")
        for name, value in rendered.items():
            values = value if isinstance(value, list) else [value]
            for item in values:
                if item is None:
                    continue
                text = _text(item)
                if any(word in str(name).lower() for word in _SENSITIVE_HEADER_WORDS):
                    secrets.add(text)
                    if " " in text:  # "Bearer abc…": the credential alone too
                        secrets.add(text.split(" ", 1)[1])
                headers.append((str(name), text))
        return headers

    def _auth(self, ctx, opts: HttpOptions, secrets: set[str], headers: list[tuple[str, str]]) -> httpx.Auth | None:
        auth = opts.auth
        user = password = None
        kind = None
        if auth is not None:
            kind = (ctx.render_str(auth.type, prop="options.auth.type") or "").strip().upper()
            if kind == "BEARER":
                token = ctx.render_str(auth.token, prop="options.auth.token") or ""
                secrets.add(token)
                headers.append(("Authorization", f"Bearer {token}"))
                return None
            if kind not in ("BASIC", "DIGEST"):
                raise TaskFailed(f"options.auth.type must be BASIC, BEARER or DIGEST, got {auth.type!r}")
            user, password = auth.username, auth.password
        else:
            user = opts.basicAuthUser or self.basicAuthUser
            password = opts.basicAuthPassword or self.basicAuthPassword
            kind = "BASIC" if user is not None or password is not None else None
        if kind is None:
            return None
        user = ctx.render_str(user, prop="options.auth.username") or ""
        password = ctx.render_str(password, prop="options.auth.password") or ""
        secrets.add(password)
        # the encoded credentials can come back in an echoed header or body too
        secrets.add(base64.b64encode(f"{user}:{password}".encode()).decode())
        return httpx.DigestAuth(user, password) if kind == "DIGEST" else httpx.BasicAuth(user, password)

    def _proxy(self, ctx, opts: HttpOptions, secrets: set[str]) -> str | None:
        p = opts.proxy or ProxyOptions()
        kind = ctx.render_str(p.type or opts.proxyType, prop="options.proxy.type")
        address = ctx.render_str(p.address or opts.proxyAddress, prop="options.proxy.address")
        if not address or (kind or "HTTP").upper() == "DIRECT":
            return None
        port = ctx.render_str(p.port if p.port is not None else opts.proxyPort, prop="options.proxy.port")
        user = ctx.render_str(p.username or opts.proxyUsername, prop="options.proxy.username")
        password = ctx.render_str(p.password or opts.proxyPassword, prop="options.proxy.password")
        scheme = "socks5" if (kind or "").upper() == "SOCKS" else "http"
        creds = ""
        if user:
            from urllib.parse import quote

            creds = quote(user, safe="") + (":" + quote(password, safe="") if password else "") + "@"
            if password:
                secrets.add(password)
        return f"{scheme}://{creds}{address}{':' + str(port) if port else ''}"

    def _payload(self, ctx) -> tuple[bytes | None, Any, Any, dict[str, str]]:
        """(content, data, files, extra headers) for httpx."""
        content_type = ctx.render_str(self.contentType, prop="contentType") if self.contentType else None
        form = ctx.render(self.formData, prop="formData") if self.formData else None
        if form:
            if not isinstance(form, dict):
                raise TaskFailed(f"property 'formData' must be a map, got {type(form).__name__}")
            if (content_type or "").split(";")[0].strip().lower() == "multipart/form-data":
                return None, None, self._multipart(ctx, form), {}
            data = {
                str(key): [_text(v) for v in value if v is not None] if isinstance(value, list)
                else ("" if value is None else _text(value))
                for key, value in form.items()
            }
            return None, data, None, {}
        if self.body is not None:
            body = ctx.render(self.body, prop="body")
            text = body if isinstance(body, str) else json.dumps(body)
            headers = {}
            if content_type:
                headers["Content-Type"] = content_type if "charset" in content_type.lower() else f"{content_type}; charset=UTF-8"
            return text.encode("utf-8"), None, None, headers
        if content_type and "contentType" in self.model_fields_set:
            return None, None, None, {"Content-Type": content_type}
        return None, None, None, {}

    def _multipart(self, ctx, form: dict) -> list[tuple[str, tuple]]:
        files: list[tuple[str, tuple]] = []
        for key, value in form.items():
            if isinstance(value, str) and is_storage_uri(value):
                path = ctx.storage.local_path(value)
                files.append((str(key), (path.name, path.read_bytes())))
            elif isinstance(value, dict) and "name" in value and "content" in value:
                content = value["content"]
                data = (ctx.storage.read_bytes(content) if is_storage_uri(content)
                        else _text(content).encode("utf-8"))
                files.append((str(key), (str(value["name"]), data)))
            else:
                files.append((str(key), (None, _text(value).encode("utf-8"))))
        return files

    @staticmethod
    def _log_types(opts: HttpOptions) -> set[str]:
        if opts.logs:
            return {str(x).upper() for x in opts.logs}
        level = (opts.logLevel or "").upper()
        return {
            "TRACE": {"REQUEST_HEADERS", "REQUEST_BODY", "RESPONSE_HEADERS", "RESPONSE_BODY"},
            "DEBUG": {"REQUEST_HEADERS", "RESPONSE_HEADERS"},
            "INFO": {"RESPONSE_HEADERS"},
        }.get(level, set())


def response_headers(response: httpx.Response) -> dict[str, list[str]]:
    """Name → list of values, names as the server sent them (Kestra's ``headers`` output)."""
    out: dict[str, list[str]] = {}
    for key, value in response.headers.raw:
        out.setdefault(key.decode("latin-1"), []).append(value.decode("latin-1"))
    return out


class Request(HttpTask):
    """Make an HTTP request and keep the response (code, headers, body) as outputs."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.http.Request"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.fs.http.Request",)

    encryptBody: bool | str = False

    # ----------------------------------------------------------------- run
    def run(self, ctx) -> dict[str, Any]:
        prepared = self.prepare(ctx)
        opts = self.options or HttpOptions()
        limit = opts.maxContentLength or DEFAULT_MAX_CONTENT_LENGTH
        chunks: list[bytes] = []
        size = 0

        def keep(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > limit:
                raise TooLarge(size, limit, "raise options.maxContentLength or use io.kestra.plugin.core.http.Download")
            chunks.append(chunk)

        response = send(ctx, prepared, keep)
        raw_body = b"".join(chunks)
        where, mask, logs = prepared.where, prepared.mask, prepared.logs
        charset = response.charset_encoding or (opts.defaultCharset or "utf-8")
        try:
            body = raw_body.decode(charset) if raw_body else None
        except (UnicodeDecodeError, LookupError):
            raise TaskFailed(
                f"{where}: the response body is not valid {charset} text; the Request task only supports "
                "text bodies (use io.kestra.plugin.core.http.Download for binary content)"
            ) from None
        code = response.status_code
        ctx.logger.debug(mask(f"{where} → {code}"))
        if "RESPONSE_HEADERS" in logs:
            ctx.logger.info(mask(f"response headers: {_redact_headers(list(response.headers.items()))}"))
        if "RESPONSE_BODY" in logs and body:
            ctx.logger.info(mask(f"response body: {body[:2000]}"))

        outputs = {"uri": prepared.uri, "code": code, "headers": response_headers(response), "body": body}
        if code >= 400 and not prepared.allow_failed:
            raise TaskFailed(self.error_message(prepared, response, body),
                             outputs={k: v for k, v in outputs.items() if k != "body"} | {"body": mask(body) if body else body})
        if ctx.render_bool(self.encryptBody, "encryptBody"):
            ctx.logger.warning("encryptBody is not supported here: the body is kept as a plain `body` output")
        return outputs

def send(ctx, prepared: Prepared, sink: Callable[[bytes], None]) -> httpx.Response:
    """Send ``prepared``, handing each chunk of the response body to ``sink`` as it arrives.

    Runs in a worker thread so that cancellation (timeout, run terminated) returns at once; the
    worker stops at its next chunk, or on its own within the read timeout. Transport errors and
    a ``sink`` that raises ``TooLarge`` fail the task with a message that names the request and
    never a credential."""
    result: dict[str, Any] = {}
    done = threading.Event()
    p = prepared

    def work() -> None:
        try:
            with httpx.Client(**p.client_kwargs) as client:
                request = client.build_request(p.method, p.uri, headers=p.headers, content=p.content, data=p.data,
                                               files=p.files)
                response = client.send(request, auth=p.auth, stream=True)
                try:
                    for chunk in response.iter_bytes():
                        if ctx.cancel_event.is_set():
                            return
                        sink(chunk)
                finally:
                    response.close()
                result["response"] = response
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=work, name=f"http-{ctx.task_id}", daemon=True)
    thread.start()
    while not done.wait(_POLL):
        if ctx.cancel_event.is_set():
            raise TaskKilled(f"task '{ctx.task_id}' was stopped during {p.where}")
    if ctx.cancel_event.is_set() and "response" not in result:
        raise TaskKilled(f"task '{ctx.task_id}' was stopped during {p.where}")
    error = result.get("error")
    if error is not None:
        raise TaskFailed(p.mask(_describe(error, p.where))) from None
    return result["response"]


class TooLarge(Exception):
    """A response body passed the size a task accepts (``hint`` says what to do)."""

    def __init__(self, size: int, limit: int, hint: str):
        self.size, self.limit, self.hint = size, limit, hint


def _describe(exc: BaseException, where: str) -> str:
    if isinstance(exc, TooLarge):
        return f"{where}: the response is larger than {exc.limit} bytes; {exc.hint}"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return f"{where} failed: timed out while connecting ({detail})"
    if isinstance(exc, httpx.ConnectError):
        lowered = detail.lower()
        if "refused" in lowered:
            return f"{where} failed: connection refused (is the server running and listening on that port?)"
        if "name or service not known" in lowered or "nodename nor servname" in lowered or "getaddrinfo" in lowered:
            return f"{where} failed: the host name cannot be resolved ({detail})"
        return f"{where} failed: cannot connect ({detail})"
    if isinstance(exc, httpx.ReadTimeout):
        return f"{where} failed: no data from the server within the read timeout (options.timeout.readIdleTimeout)"
    if isinstance(exc, httpx.TooManyRedirects):
        return f"{where} failed: too many redirects"
    if isinstance(exc, httpx.HTTPError):
        return f"{where} failed: {type(exc).__name__}: {detail}"
    return f"{where} failed: {type(exc).__name__}: {detail}"


def _strip_userinfo(uri: str) -> str:
    return _USERINFO.sub("//", uri, count=1)


def _redact_headers(headers) -> str:
    shown = []
    for name, value in headers:
        if any(word in str(name).lower() for word in _SENSITIVE_HEADER_WORDS):
            value = "******"
        shown.append(f"{name}: {value}")
    return "; ".join(shown)
