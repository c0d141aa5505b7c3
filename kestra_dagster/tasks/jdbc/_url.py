"""JDBC URLs → driver connection arguments (Kestra users write ``jdbc:postgresql://host:5432/db``).

Only the parts a Python driver can use are kept: host, port, database, and the query parameters
the driver understands (``user``, ``password``, ``sslmode``…); a URL of another database, or
without a database where one is needed, is a clear error naming the property.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from kestra_dagster.errors import TaskFailed


@dataclass
class JdbcUrl:
    scheme: str  # postgresql | mysql | mariadb | sqlite | duckdb
    host: str = ""
    port: int | None = None
    database: str = ""
    params: dict[str, str] = field(default_factory=dict)
    path: str = ""  # sqlite / duckdb: the database file ("" = in memory)

    def describe(self) -> str:
        """Where it points, without credentials (for logs and errors)."""
        if self.scheme in ("sqlite", "duckdb"):
            return f"{self.scheme} {self.path or '(in memory)'}"
        return f"{self.scheme} {self.host}:{self.port}/{self.database}"


def parse_jdbc_url(url: str, expected: tuple[str, ...], prop: str = "url") -> JdbcUrl:
    text = (url or "").strip()
    if not text.lower().startswith("jdbc:"):
        raise TaskFailed(f"property '{prop}' must be a JDBC URL such as jdbc:{expected[0]}:…, got {_safe(text)!r}")
    rest = text[len("jdbc:"):]
    scheme, _, tail = rest.partition(":")
    scheme = scheme.lower()
    if scheme not in expected:
        raise TaskFailed(f"property '{prop}': jdbc:{scheme} is not a {'/'.join(expected)} URL "
                         f"(expected jdbc:{expected[0]}:…)")
    if scheme in ("sqlite", "duckdb"):
        path, _, query = tail.partition("?")
        path = path.strip()
        if path in (":memory:", "memory:"):
            path = ""
        return JdbcUrl(scheme=scheme, path=path, params=dict(parse_qsl(query)))
    if not tail.startswith("//"):
        raise TaskFailed(f"property '{prop}': expected jdbc:{scheme}://host[:port]/database, got {_safe(text)!r}")
    parts = urlsplit(f"{scheme}:{tail}")
    try:
        port = parts.port
    except ValueError:
        raise TaskFailed(f"property '{prop}': the port of {_safe(text)!r} is not a number") from None
    params = dict(parse_qsl(parts.query))
    if parts.username:
        params.setdefault("user", unquote(parts.username))
    if parts.password:
        params.setdefault("password", unquote(parts.password))
    default_port = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}[scheme]
    return JdbcUrl(scheme=scheme, host=parts.hostname or "localhost", port=port or default_port,
                   database=unquote(parts.path.lstrip("/")), params=params)


def _safe(url: str) -> str:
    """The URL with any password parameter or user-info hidden."""
    import re

    url = re.sub(r"(//[^/@]*:)[^/@]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", url)
