"""io.kestra.plugin.core.http.Request against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

import pytest

from kestra_dagster.errors import TaskFailed, TaskKilled
from kestra_dagster.tasks.core.http import Request

from kd_testing import http_server

pytestmark = pytest.mark.timeout(30)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _reply(self, code: int, body: bytes, content_type: str = "application/json", extra: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Multi", "one")
        self.send_header("X-Multi", "two")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.startswith("/status/"):
            code = int(self.path.split("?")[0].split("/")[2])
            body = b'{"error": "nothing here", "echo_auth": "' + (self.headers.get("Authorization") or "").encode() + b'"}'
            self._reply(code, body)
            return
        if self.path == "/redirect":
            self._reply(302, b"", extra={"Location": "/echo"})
            return
        if self.path == "/slow":
            time.sleep(5)
        echo = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": raw.decode("latin-1"),
        }
        self._reply(200, json.dumps(echo).encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


@pytest.fixture(scope="module")
def server():
    with http_server(_Handler) as url:
        yield url


def _request(**props) -> Request:
    return Request(id="http", type=Request.kestra_type, **props)


def test_get(make_ctx, server) -> None:
    out = _request(uri=f"{server}/echo?x=1").run(make_ctx())
    assert out["code"] == 200
    assert out["uri"] == f"{server}/echo?x=1"
    assert isinstance(out["body"], str)  # JSON stays a string, as in Kestra
    echo = json.loads(out["body"])
    assert echo["method"] == "GET" and echo["path"] == "/echo?x=1"
    assert out["headers"]["Content-Type"] == ["application/json"]
    assert out["headers"]["X-Multi"] == ["one", "two"]


def test_post_json_body_from_a_map_and_custom_headers(make_ctx, server) -> None:
    ctx = make_ctx(variables={"token": "abc123"})
    out = _request(
        uri=f"{server}/echo", method="post", body={"title": "Kestra Pen", "n": 2},
        headers={"X-Token": "{{ token }}", "User-Agent": "kestra-io"},
    ).run(ctx)
    echo = json.loads(out["body"])
    assert echo["method"] == "POST"
    assert json.loads(echo["body"]) == {"title": "Kestra Pen", "n": 2}
    assert echo["headers"]["content-type"] == "application/json; charset=UTF-8"
    assert echo["headers"]["x-token"] == "abc123"
    assert echo["headers"]["user-agent"] == "kestra-io"


def test_string_body_with_content_type(make_ctx, server) -> None:
    out = _request(uri=f"{server}/echo", method="PUT", body="plain text", contentType="text/plain").run(make_ctx())
    echo = json.loads(out["body"])
    assert echo["body"] == "plain text"
    assert echo["headers"]["content-type"].startswith("text/plain")


def test_form_data_url_encoded(make_ctx, server) -> None:
    out = _request(uri=f"{server}/echo", method="POST", formData={"user": "John Doe", "n": 3, "tags": ["a", "b"]}).run(make_ctx())
    echo = json.loads(out["body"])
    assert echo["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(echo["body"]) == {"user": ["John Doe"], "n": ["3"], "tags": ["a", "b"]}


def test_form_data_multipart_with_a_stored_file(make_ctx, server) -> None:
    ctx = make_ctx()
    uri = ctx.storage.put_bytes(b"col\n1\n", "data.csv")
    out = _request(
        uri=f"{server}/echo", method="POST", contentType="multipart/form-data",
        formData={"user": "John", "file": uri, "renamed": {"name": "my-file.txt", "content": uri}},
    ).run(ctx)
    echo = json.loads(out["body"])
    assert echo["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    body = echo["body"]
    assert 'name="user"\r\n\r\nJohn' in body
    assert 'name="file"; filename="data.csv"' in body and "col\n1\n" in body
    assert 'name="renamed"; filename="my-file.txt"' in body


def test_basic_auth_new_and_old_spellings(make_ctx, server) -> None:
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    for props in (
        {"options": {"auth": {"type": "BASIC", "username": "alice", "password": "s3cret"}}},
        {"options": {"basicAuthUser": "alice", "basicAuthPassword": "s3cret"}},
        {"basicAuthUser": "alice", "basicAuthPassword": "s3cret"},
    ):
        out = _request(uri=f"{server}/echo", **props).run(make_ctx())
        assert json.loads(out["body"])["headers"]["authorization"] == expected


def test_404_fails_with_status_and_body(make_ctx, server) -> None:
    with pytest.raises(TaskFailed) as info:
        _request(uri=f"{server}/status/404").run(make_ctx())
    message = str(info.value)
    assert "GET" in message and "404" in message and "Not Found" in message
    assert "nothing here" in message
    assert info.value.outputs["code"] == 404


def test_404_with_allow_failed_old_and_new_spelling(make_ctx, server) -> None:
    for props in ({"allowFailed": True}, {"options": {"allowFailed": True}}):
        out = _request(uri=f"{server}/status/404", **props).run(make_ctx())
        assert out["code"] == 404
        assert "nothing here" in out["body"]


def test_error_message_never_shows_credentials_or_secrets(make_ctx, server) -> None:
    ctx = make_ctx(secret_values={"topsecretvalue"})
    with pytest.raises(TaskFailed) as info:
        _request(
            uri=f"{server}/status/500?api_key=topsecretvalue",
            headers={"Authorization": "Bearer bearer-token-123"},
        ).run(ctx)
    message = str(info.value)
    assert "500" in message
    assert "topsecretvalue" not in message
    assert "bearer-token-123" not in message  # the server echoes it back in its body
    assert "******" in message
    with pytest.raises(TaskFailed) as info:
        _request(uri=f"{server}/status/401", options={"auth": {"type": "BASIC", "username": "u", "password": "pa55word"}}).run(ctx)
    assert "pa55word" not in str(info.value)
    assert base64.b64encode(b"u:pa55word").decode() not in str(info.value)


def test_redirects_followed_by_default_and_optionally_not(make_ctx, server) -> None:
    out = _request(uri=f"{server}/redirect").run(make_ctx())
    assert out["code"] == 200 and json.loads(out["body"])["path"] == "/echo"
    out = _request(uri=f"{server}/redirect", options={"followRedirects": False}).run(make_ctx())
    assert out["code"] == 302 and out["headers"]["Location"] == ["/echo"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_a_clear_failure(make_ctx) -> None:
    port = _free_port()
    with pytest.raises(TaskFailed, match=rf"GET http://127.0.0.1:{port}/x failed: connection refused"):
        _request(uri=f"http://127.0.0.1:{port}/x").run(make_ctx())


def test_read_timeout(make_ctx, server) -> None:
    with pytest.raises(TaskFailed, match="read timeout"):
        _request(uri=f"{server}/slow", options={"timeout": {"readIdleTimeout": "PT0.3S"}}).run(make_ctx())


def test_cancellation_returns_promptly(make_ctx, server) -> None:
    ctx = make_ctx()
    threading.Timer(0.3, ctx.cancel_event.set).start()
    started = time.monotonic()
    with pytest.raises(TaskKilled):
        _request(uri=f"{server}/slow").run(ctx)
    assert time.monotonic() - started < 2


def test_invalid_uri(make_ctx) -> None:
    with pytest.raises(TaskFailed, match="absolute http"):
        _request(uri="ftp://example.com/file").run(make_ctx())


def test_old_type_alias_and_unknown_option_rejected() -> None:
    assert "io.kestra.plugin.fs.http.Request" in Request.kestra_aliases
    with pytest.raises(ValueError):
        Request(id="h", type=Request.kestra_type, uri="http://x", options={"followRedirect": True})
