"""io.kestra.plugin.core.http.Download against a real HTTP server on 127.0.0.1 (task and flow)."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
from http.server import BaseHTTPRequestHandler

import pytest

from kestra_dagster.errors import FlowValidationError, TaskFailed
from kestra_dagster.model.loader import parse_flow
from kestra_dagster.tasks.core.http_download import Download, extension_of, filename_from_header

from kd_testing import http_server

pytestmark = pytest.mark.timeout(60)

BIG = 24 * 1024 * 1024  # more than Request's 10 MB buffer: Download streams it
CSV = b"id,amount\n1,10\n2,20\n"
TOKEN = "s3cr3t-download-token"


def _blob(n: int) -> bytes:
    return hashlib.sha256(str(n).encode()).digest() * (n // 32) + b"x" * (n % 32)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _reply(self, code: int, body: bytes, extra: dict | None = None, length: int | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        if path == "/files/orders.csv":
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._reply(401, b"bad token " + (self.headers.get("Authorization") or "").encode())
                return
            self._reply(200, CSV, {"Content-Type": "text/csv"})
        elif path == "/big.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            step = 1024 * 1024
            for start in range(0, BIG, step):
                self.wfile.write(_blob(BIG)[start:start + step] if start == 0 else b"\0" * min(step, BIG - start))
        elif path == "/named":
            self._reply(200, b"report", {"Content-Disposition": 'attachment; filename="../../etc/my report.txt"'})
        elif path == "/empty":
            self._reply(200, b"")
        elif path == "/truncated":
            self._reply(200, b"only part", length=1000)
            self.close_connection = True
        elif path == "/missing":
            self._reply(404, b"no such file")
        else:
            self._reply(500, b"unexpected")


@pytest.fixture(scope="module")
def server():
    with http_server(_Handler) as url:
        yield url


def _download(**props) -> Download:
    return Download(id="dl", type=Download.kestra_type, **props)


def test_download_streams_to_storage_with_kestra_outputs(make_ctx, server) -> None:
    ctx = make_ctx()
    out = _download(uri=f"{server}/files/orders.csv", headers={"Authorization": f"Bearer {TOKEN}"}).run(ctx)
    assert out["code"] == 200 and out["length"] == len(CSV)
    assert out["uri"].startswith("kestra:///company/team/flow/executions/exec1/tasks/t/") and out["uri"].endswith(".csv")
    assert ctx.storage.read_bytes(out["uri"]) == CSV
    assert out["headers"]["Content-Type"] == ["text/csv"]
    assert ctx.metrics == [{"name": "response.length", "type": "counter", "value": len(CSV), "count": 1, "tags": {}}]
    assert list(ctx.working_dir.iterdir()) == []  # the working copy is not left behind


def test_download_larger_than_request_buffer(make_ctx, server) -> None:
    ctx = make_ctx()
    out = _download(uri=f"{server}/big.bin").run(ctx)
    assert out["length"] == BIG
    assert ctx.storage.local_path(out["uri"]).stat().st_size == BIG


def test_max_content_length_bounds_the_download(make_ctx, server) -> None:
    ctx = make_ctx()
    with pytest.raises(TaskFailed, match=r"larger than 1048576 bytes; raise options.maxContentLength"):
        _download(uri=f"{server}/big.bin", options={"maxContentLength": 1024 * 1024}).run(ctx)
    assert list(ctx.working_dir.iterdir()) == []


def test_content_disposition_names_the_file_without_its_directories(make_ctx, server) -> None:
    out = _download(uri=f"{server}/named").run(make_ctx())
    assert out["uri"].endswith("/my+report.txt")
    assert filename_from_header("attachment; filename*=UTF-8''na%C3%AFve.csv") == "naïve.csv"
    assert filename_from_header('inline; filename="..\\\\..\\\\x.bin"') == "x.bin"
    assert filename_from_header("attachment") is None
    assert extension_of("https://h/a/b.tar.gz?x=1") == ".gz" and extension_of("https://h/dir/") == ""


def test_empty_response_fails_unless_allowed(make_ctx, server) -> None:
    with pytest.raises(TaskFailed, match=r"no content in the response \(code 200\); set failOnEmptyResponse: false"):
        _download(uri=f"{server}/empty").run(make_ctx())
    ctx = make_ctx()
    out = _download(uri=f"{server}/empty", failOnEmptyResponse=False).run(ctx)
    assert out["length"] == 0 and ctx.storage.read_bytes(out["uri"]) == b""
    assert any("is empty" in m for _, _, m in ctx.logger.records)


def test_error_response_fails_and_masks_credentials(make_ctx, server) -> None:
    with pytest.raises(TaskFailed) as info:
        _download(uri=f"{server}/files/orders.csv", headers={"Authorization": "Bearer wrong-token-value"}).run(make_ctx())
    message = str(info.value)
    assert "failed with response code 401" in message and "wrong-token-value" not in message and "******" in message
    out = _download(uri=f"{server}/missing", options={"allowFailed": True}).run(make_ctx())
    assert out["code"] == 404 and out["length"] == len(b"no such file")


def test_truncated_body_is_not_a_file(make_ctx, server) -> None:
    with pytest.raises(TaskFailed):
        _download(uri=f"{server}/truncated").run(make_ctx())


def test_unreachable_host_is_a_clear_error(make_ctx) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TaskFailed, match="connection refused"):
        _download(uri=f"http://127.0.0.1:{port}/x.csv").run(make_ctx())


def test_flow_downloads_then_reads_the_file(server, tmp_path, monkeypatch) -> None:
    from runtime.conftest import dump, execute, flow_path

    monkeypatch.setenv("KESTRA_STORAGE_PATH", str(tmp_path / "storage"))
    monkeypatch.setenv("SECRET_DOWNLOAD_TOKEN", base64.b64encode(TOKEN.encode()).decode())
    out = execute(flow_path("http", "download.yaml"), inputs={"base": server})
    assert out.state == "SUCCESS", dump(out)
    assert out.outputs["size"] == {"size": len(CSV)}
    assert out.outputs["first_line"] == {"value": f"id,amount ({len(CSV)} bytes, code 200)"}
    assert TOKEN not in out.raw_log


def test_download_without_uri_is_a_located_error() -> None:
    text = "id: d\nnamespace: tests.http\ntasks:\n  - id: fetch\n    type: io.kestra.plugin.core.http.Download\n    method: GET\n"
    with pytest.raises(FlowValidationError) as info:
        parse_flow(text, file="d.yaml")
    [issue] = info.value.issues
    assert issue.path == "tasks[0].uri" or (issue.path == "tasks[0]" and "uri" in issue.message), issue
    assert issue.line == 4
