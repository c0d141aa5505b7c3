"""What every incoming-webhook notification shares: options, the POST, retries, secrecy.

Kestra's notification tasks (``AbstractHttpOptionsTask``) POST a JSON ``payload`` to a webhook
``url`` that usually comes from ``{{ secret('…') }}``. Here:

* the payload is rendered twice, as Kestra does (so a payload built by an expression can hold
  expressions), and must be JSON; a map or list written in YAML is sent as JSON too;
* 429 and 5xx responses are retried (``MAX_ATTEMPTS`` in all) after the server's
  ``Retry-After`` (seconds or an HTTP date; capped at ``MAX_RETRY_AFTER``), else after an
  exponential back-off; connection failures are retried the same way;
* the webhook URL is a credential (the token is in its path): it is never logged and never
  appears in an error message; only its scheme and host do.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx

from kestra_dagster.errors import TaskFailed
from kestra_dagster.transport import Backoff, is_transient, retry_after_seconds  # noqa: F401 - re-exported
from kestra_dagster.model.common import Duration, KestraModel, parse_duration
from kestra_dagster.tasks.base import RunnableTask

#: Attempts in all (the first one included) on 429, 5xx and connection failures.
MAX_ATTEMPTS = 4
#: Back-off before retry n (n from 1) without Retry-After: BASE_DELAY * 2**(n-1), plus jitter.
BASE_DELAY = 1.0
BACKOFF = Backoff(attempts=MAX_ATTEMPTS, base=BASE_DELAY, jitter=0.1)
#: A Retry-After longer than this is not waited for: the task fails and says so.
MAX_RETRY_AFTER = 120.0
ERROR_BODY_LIMIT = 300
USER_AGENT = "kestra-dagster-notifications"


class RequestOptions(KestraModel):
    """Kestra's ``AbstractHttpOptionsTask.RequestOptions``."""

    connectTimeout: Duration | None = None
    readTimeout: Duration | None = "PT10S"
    readIdleTimeout: Duration | None = "PT5M"
    connectionPoolIdleTimeout: Duration | None = None
    maxContentLength: int | str | None = None
    defaultCharset: str | None = "UTF-8"
    headers: dict[str, Any] | None = None


def safe_target(url: str) -> str:
    """What may be shown of a webhook URL: scheme and host only."""
    try:
        parsed = httpx.URL(url)
        if parsed.host:
            return f"{parsed.scheme}://{parsed.host}{':' + str(parsed.port) if parsed.port else ''}/…"
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as nothing at all
        pass
    return "<webhook URL>"


def _seconds(ctx, value: Any, prop: str) -> float | None:
    if value is None:
        return None
    text = ctx.render_str(value, prop=prop)
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise TaskFailed(f"property '{prop}': {exc}") from None


class Masker:
    """Masks the webhook URL (and its path, where the token lives) plus the run's revealed secrets."""

    def __init__(self, ctx, *secrets: str):
        self.ctx = ctx
        self.secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret:
            return
        self.secrets.add(secret)
        try:
            url = httpx.URL(secret)
            if url.host and url.raw_path not in (b"", b"/"):
                self.secrets.add(url.raw_path.decode("ascii", "replace"))
                self.secrets.add(url.path)
        except Exception:  # noqa: BLE001
            pass

    def __call__(self, text: str) -> str:
        text = self.ctx.mask(text)
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret and len(secret) >= 3:
                text = text.replace(secret, "******")
        return text


def render_twice(ctx, value: Any, prop: str) -> Any:
    """Kestra renders notification payloads twice: a template made by an expression is filled too."""
    rendered = ctx.render(value, prop)
    if isinstance(rendered, str) and ("{{" in rendered or "{%" in rendered):
        rendered = ctx.render(rendered, prop)
    return rendered


def payload_text(ctx, payload: Any, prop: str = "payload") -> str:
    """The rendered payload as JSON text (a YAML map/list is serialised; a string must parse)."""
    rendered = render_twice(ctx, payload, prop)
    if isinstance(rendered, (dict, list)):
        return json.dumps(rendered)
    if rendered is None or (isinstance(rendered, str) and not rendered.strip()):
        raise TaskFailed(f"property '{prop}' is empty: nothing to send")
    text = str(rendered)
    try:
        json.loads(text)
    except ValueError as exc:
        raise TaskFailed(
            f"property '{prop}' is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "webhooks expect a JSON object such as {\"text\": \"…\"}"
        ) from None
    return text


def post_json(ctx, url: str, body: str, *, service: str, options: RequestOptions | None,
              mask: Masker) -> httpx.Response:
    """POST ``body`` to ``url``; retries 429/5xx/connection failures; fails with a masked message."""
    target = f"{service} webhook {safe_target(url)}"
    opts = options or RequestOptions()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if opts.headers:
        rendered = ctx.render(opts.headers, "options.headers") or {}
        if not isinstance(rendered, dict):
            raise TaskFailed("property 'options.headers' must be a map")
        for name, value in rendered.items():
            headers[str(name)] = str(value)
            if any(w in str(name).lower() for w in ("authorization", "token", "key", "secret")):
                mask.add(str(value))
    connect = _seconds(ctx, opts.connectTimeout, "options.connectTimeout") or 10.0
    read = _seconds(ctx, opts.readTimeout, "options.readTimeout") or 10.0
    timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)

    last_problem = ""
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for attempt in range(1, BACKOFF.attempts + 1):
            ctx.check_cancelled()
            wait: float | None = None
            try:
                response = client.post(url, content=body.encode("utf-8"), headers=headers)
            except httpx.HTTPError as exc:
                last_problem = _describe_transport(exc)
                if not BACKOFF.may_retry(attempt):
                    break
            else:
                code = response.status_code
                if code < 400:
                    ctx.logger.debug(f"{target} answered {code} (attempt {attempt})")
                    return response
                snippet = mask((response.text or "").strip())[:ERROR_BODY_LIMIT]
                reason = f"{code} {response.reason_phrase}".strip()
                last_problem = f"answered {reason}" + (f": {snippet}" if snippet else "")
                if not is_transient(code):
                    raise TaskFailed(mask(f"{target} {last_problem} (not retried: a {code} will not go away by itself)"))
                if not BACKOFF.may_retry(attempt):
                    break
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if wait is not None and wait > MAX_RETRY_AFTER:
                    raise TaskFailed(mask(
                        f"{target} {last_problem}; it asks to retry after {wait:.0f}s, longer than the "
                        f"{MAX_RETRY_AFTER:.0f}s this task waits"
                    ))
            wait = BACKOFF.delay(attempt, retry_after=wait)
            ctx.logger.warning(mask(f"{target} {last_problem}; retrying in {wait:.1f}s (attempt {attempt + 1} of {MAX_ATTEMPTS})"))
            ctx.sleep(wait)
    raise TaskFailed(mask(f"{target} failed after {MAX_ATTEMPTS} attempts: {last_problem}"))


def _describe_transport(exc: httpx.HTTPError) -> str:
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out while connecting"
    if isinstance(exc, httpx.ReadTimeout):
        return "no answer within the read timeout (options.readTimeout)"
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text:
            return "connection refused (is the host reachable and the port right?)"
        if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text \
                or "name resolution" in text:
            return "the host name cannot be resolved"
        return f"cannot connect ({type(exc).__name__})"
    return f"request failed ({type(exc).__name__})"


class IncomingWebhookTask(RunnableTask):
    """Base of the ``*IncomingWebhook`` tasks: POST ``payload`` to ``url``."""

    kestra_family: ClassVar[str] = "notifications"
    compute_kind: ClassVar[str | None] = "notification"
    #: Shown in messages ("Slack webhook https://hooks.slack.com/… answered 404").
    service: ClassVar[str] = "incoming"

    url: str
    payload: Any = None
    options: RequestOptions | None = None

    def webhook_url(self, ctx, mask: Masker) -> str:
        url = (ctx.render_str(self.url, prop="url") or "").strip()
        mask.add(url)
        try:
            parsed = httpx.URL(url)
        except Exception:  # noqa: BLE001
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise TaskFailed("property 'url' must be an absolute http:// or https:// webhook URL "
                             "(the value is not shown: it is a credential)")
        return url

    def build_payload(self, ctx) -> str:
        """The JSON text to send; ``*Execution`` tasks build it from the execution instead."""
        if self.payload is None:
            raise TaskFailed("property 'payload' is required")
        return payload_text(ctx, self.payload)

    def run(self, ctx) -> dict[str, Any]:
        mask = Masker(ctx)
        url = self.webhook_url(ctx, mask)
        body = self.build_payload(ctx)
        ctx.logger.debug(mask(f"Send {self.service} webhook: {body}"))
        post_json(ctx, url, body, service=self.service, options=self.options, mask=mask)
        return {}
