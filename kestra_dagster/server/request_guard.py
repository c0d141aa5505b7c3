"""Checks the front door makes before it authenticates or forwards a request.

- :func:`path_problem`: auth and routing are decided on one path, the one that is forwarded, so a
  path with dot segments, encoded separators, backslashes or empty segments is refused instead of
  being normalised differently by the front door and by the service behind it.
- :func:`cross_site_problem`: a state-changing request (or a WebSocket) sent by a browser on behalf
  of another site is refused (``Sec-Fetch-Site`` / ``Origin``), so basic-auth credentials a
  browser remembers cannot be used by a foreign page (CSRF).
- :func:`graphql_get_mutation`: a GraphQL mutation must be a POST (a GET must never change state).
- :class:`LoginThrottle`: failed basic-auth logins per client address are limited.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl, urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Paths where a strict path is required (everything the intake serves, the webhook URLs included).
STRICT_PREFIXES = ("/api/", "/approvals")
_ENCODED_SEPARATOR = re.compile(rb"%(2f|5c|00|2e)", re.IGNORECASE)


def path_problem(path: str, raw_path: bytes | None) -> str | None:
    """Why ``path`` (percent-decoded) / ``raw_path`` (as sent) must be refused, else None."""
    if "\\" in path or "\x00" in path:
        return "backslashes and NUL bytes are not allowed in paths"
    segments = path.split("/")[1:]
    if any(s in (".", "..") for s in segments):
        return "dot segments ('.', '..') are not allowed in paths"
    if path.startswith(STRICT_PREFIXES) or path.lstrip("/").startswith(("api/", "approvals")):
        if "//" in path:
            return "empty path segments ('//') are not allowed here"
        if raw_path and _ENCODED_SEPARATOR.search(raw_path):
            return "encoded '/', '\\', '.' or NUL ('%2F', '%5C', '%2E', '%00') are not allowed here"
    return None


def _host_of(origin: str) -> str | None:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.netloc.lower()


def cross_site_problem(method: str, headers: dict[bytes, bytes], websocket: bool = False,
                       forwarded_host: str | None = None, allowed_origins: tuple[str, ...] = ()) -> str | None:
    """Why a browser request must be refused as cross-site, else None.

    Applies to state-changing methods and WebSocket handshakes. ``Sec-Fetch-Site`` (sent by every
    current browser) decides when present: it stays right behind a reverse proxy that rewrites
    ``Host``. Otherwise ``Origin`` must name the host the browser used (or one of
    ``allowed_origins``, e.g. Kestra's ``kestra.url``). Non-browser clients (neither header) pass:
    they hold no ambient credentials to abuse.
    """
    if not websocket and method.upper() in SAFE_METHODS:
        return None
    site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
    if site:
        if site in ("same-origin", "none"):
            return None
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = headers.get(b"origin")
    if origin is None:
        return None
    host = (forwarded_host or headers.get(b"host", b"").decode("latin-1")).lower()
    origin_host = _host_of(origin.decode("latin-1"))
    allowed = {host, *(h for h in (_host_of(o) for o in allowed_origins) if h)}
    if origin_host is None or origin_host not in allowed:
        return "cross-origin request refused (Origin does not match Host)"
    return None


_MUTATION = re.compile(r"^\s*mutation\b")
_COMMENT = re.compile(r"#[^\n]*")


def graphql_get_mutation(method: str, path: str, query_string: bytes) -> bool:
    """True for a GraphQL mutation sent with GET (refused: GET must not change state)."""
    if method.upper() not in SAFE_METHODS or not path.rstrip("/").endswith("/graphql"):
        return False
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name == "query":
            text = _COMMENT.sub("", value)
            # a document may hold several operations: any mutation in it is refused
            if _MUTATION.search(text) or re.search(r"[}\s]mutation\b", text):
                return True
    return False


class LoginThrottle:
    """At most ``max_failures`` failed logins per client address within ``window`` seconds."""

    def __init__(self, max_failures: int = 10, window: float = 60.0, max_clients: int = 10_000):
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._failures: dict[str, list[float]] = {}

    def retry_after(self, client: str) -> int:
        """Seconds the client must wait before trying again (0: it may try now)."""
        now = time.monotonic()
        recent = [t for t in self._failures.get(client, []) if now - t < self.window]
        if recent:
            self._failures[client] = recent
        else:
            self._failures.pop(client, None)
        if len(recent) < self.max_failures:
            return 0
        return max(1, int(self.window - (now - recent[0])) + 1)

    def failed(self, client: str) -> None:
        if len(self._failures) >= self.max_clients and client not in self._failures:
            now = time.monotonic()  # forget the clients whose failures have expired
            self._failures = {c: ts for c, ts in self._failures.items() if ts and now - ts[-1] < self.window}
            if len(self._failures) >= self.max_clients:
                self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, []).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
