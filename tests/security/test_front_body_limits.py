"""Attack: oversize bodies on the public webhook path make the front door buffer them (issue 12, #1).

Before: 8 concurrent 60 MB POSTs took the front door from 130 MB to 1 GB RSS. Now bodies are
counted while they stream and never buffered: 16 concurrent oversize bodies raise its peak RSS
(VmHWM) by at most 64 MB and every one is answered 413; bodies without Content-Length (chunked)
are stopped at the limit too, on authenticated paths as well; and at most ``max_concurrent``
requests are proxied at once.
"""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from attack_helpers import AUTH, proc_kb, raw_request, start_front, stop_process

MB = 1024 * 1024
WEBHOOK = "/api/v1/executions/webhook/sec.test/hooks/good-key-123"


def _hostport(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def test_sixteen_concurrent_oversize_bodies_are_refused_without_buffering(stack):
    host, port = _hostport(stack.front)
    size = 60 * MB
    head = (f"POST {WEBHOOK} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n")
    before = proc_kb(stack.front_pid, "VmHWM")
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: raw_request(host, port, head, size), range(16)))
    grown_mb = (proc_kb(stack.front_pid, "VmHWM") - before) / 1024
    print(f"\n16 x 60 MB bodies: front door peak RSS +{grown_mb:.1f} MB, answers {[s for s, _ in results]}")
    assert [status for status, _ in results] == [413] * 16, [r[1][:200] for r in results]
    assert grown_mb <= 64, f"the front door's peak RSS grew by {grown_mb:.0f} MB"


def test_chunked_bodies_are_stopped_at_the_limit_while_streaming(stack):
    host, port = _hostport(stack.front)
    from kestra_dagster.triggers.store import DeliveryStore

    stored = DeliveryStore(stack.deployment.instance).count("sec.test.hooks")

    def chunked(path: str, size: int, extra: str = "") -> int:
        with socket.create_connection((host, port), timeout=60) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nTransfer-Encoding: chunked\r\n{extra}\r\n".encode())
            piece = b"1" * (256 * 1024)
            sent = 0
            try:
                while sent < size:
                    s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    sent += len(piece)
                s.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = s.recv(65536)
        return int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0

    assert chunked(WEBHOOK, 3 * MB) == 413  # webhook limit: 1 MiB
    import base64

    basic = "Authorization: Basic " + base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode() + "\r\n"
    assert chunked("/graphql", 12 * MB, basic) == 413  # every other path: 10 MiB
    assert DeliveryStore(stack.deployment.instance).count("sec.test.hooks") == stored


def test_concurrent_requests_are_bounded(stack):
    """With max_concurrent=2, a third request while two bodies are still streaming gets 503."""
    front, proc = start_front(stack.intake, None, stack.deployment.logs, "--max-concurrent", "2")
    host, port = _hostport(front)
    try:
        held = []
        for _ in range(2):  # two requests whose bodies never finish: they hold their slots
            s = socket.create_connection((host, port), timeout=30)
            s.sendall(f"POST {WEBHOOK} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000\r\n\r\n{{".encode())
            held.append(s)
        import time

        time.sleep(1.0)
        status, answer = raw_request(host, port, f"GET /api/v1/approvals HTTP/1.1\r\nHost: {host}\r\n"
                                                 f"Authorization: Basic YWRtaW5Aa2VzdHJhLmlvOkFkbTFuLXBhc3M=\r\n\r\n")
        assert status == 503 and b"retry-after" in answer.lower(), answer[:300]
        for s in held:
            s.close()
        threading.Event().wait(1.0)
        status, _ = raw_request(host, port, f"GET /api/v1/approvals HTTP/1.1\r\nHost: {host}\r\n"
                                            f"Authorization: Basic YWRtaW5Aa2VzdHJhLmlvOkFkbTFuLXBhc3M=\r\n\r\n")
        assert status == 200
    finally:
        stop_process(proc)
