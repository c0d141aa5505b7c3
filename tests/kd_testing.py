"""Facts every test module may import (``import kd_testing``): repository paths and CI rules.

Test modules import this rather than ``conftest`` (several directories have a conftest.py, and
which one ``import conftest`` finds depends on collection order).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_shared() -> Path:
    """The reference corpus beside the repo; skip outside CI when it is absent, fail in CI."""
    if not SHARED.is_dir():
        if IN_CI:
            pytest.fail(f"{SHARED} is missing: CI must have ../shared beside the checkout")
        pytest.skip(f"{SHARED} is absent (reference corpus lives beside the repository)")
    return SHARED


# ------------------------------------------------------------------ task contexts without Dagster
_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")


def simple_render(value: Any, variables: dict) -> Any:
    """Replace ``{{ name }}`` / ``{{ a.b }}`` with variables; recurse into lists and dicts.

    Enough to check that tasks render their properties, without the real expression engine.
    """
    if isinstance(value, str):

        def lookup(match: re.Match) -> str:
            current: Any = variables
            for part in match.group(1).split("."):
                if not isinstance(current, dict) or part not in current:
                    return match.group(0)
                current = current[part]
            return str(current)

        return _VAR.sub(lookup, value)
    if isinstance(value, list):
        return [simple_render(v, variables) for v in value]
    if isinstance(value, dict):
        return {simple_render(k, variables): simple_render(v, variables) for k, v in value.items()}
    return value


class RecordingLogger:
    """TaskLogger that keeps (monotonic time, level, message) for assertions."""

    def __init__(self) -> None:
        self.records: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()

    def _add(self, level: str, msg: str) -> None:
        with self._lock:
            self.records.append((time.monotonic(), level, msg))

    def debug(self, msg: str) -> None:
        self._add("DEBUG", msg)

    def info(self, msg: str) -> None:
        self._add("INFO", msg)

    def warning(self, msg: str) -> None:
        self._add("WARNING", msg)

    def error(self, msg: str) -> None:
        self._add("ERROR", msg)

    def messages(self, level: str | None = None) -> list[str]:
        with self._lock:
            return [m for _, lvl, m in self.records if level is None or lvl == level]

    def text(self) -> str:
        return "\n".join(self.messages())


@contextlib.contextmanager
def http_server(handler: type) -> Iterator[str]:
    """A ``ThreadingHTTPServer`` with ``handler`` on a free loopback port: its base URL; shut down after."""
    from http.server import ThreadingHTTPServer

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def unavailable(reason: str):
    """A real part a test needs is missing: skip with the reason, but fail in CI (CI=true)."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must have every part the tests use)")
    pytest.skip(reason)


# ------------------------------------------------------------------ S3 (moto's server mode)
S3_BUCKET = "inbox"


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on a free loopback port with bucket ``S3_BUCKET``: (endpoint, boto3 client).

    Registered suite-wide by tests/conftest.py (one server per session, whoever asks first).
    """
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        unavailable("moto[server] and boto3 are not installed (the test extra)")
    from kestra_dagster.testing import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    client.create_bucket(Bucket=S3_BUCKET)
    yield endpoint, client
    server.stop()


def moto_checks_credentials(endpoint: str, on: bool) -> None:
    """Make the moto server refuse every key it did not issue (``on``), or accept any (moto's default)."""
    import httpx

    httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0" if on else b"inf", timeout=10).raise_for_status()
