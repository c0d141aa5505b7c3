"""Real peers on loopback for the plugin task tests: an HTTP receiver that records requests,
an SMTP server (aiosmtpd), and a TaskContext built from plain pieces."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kestra_dagster.engine.context import TaskContext, TaskRunInfo
from kestra_dagster.engine.kv import SQLiteKV
from kestra_dagster.engine.storage import LocalStorage

from kd_testing import RecordingLogger, simple_render, unavailable  # noqa: E402,F401 - used by fixtures and tests


@pytest.fixture
def make_ctx(tmp_path: Path):
    """``make_ctx(task_id="t", variables=…, **overrides) -> TaskContext`` with a RecordingLogger."""
    storage = LocalStorage(tmp_path / "storage")
    kv = SQLiteKV(tmp_path / "kv.sqlite")
    counter = iter(range(1, 10_000))

    def factory(task_id: str = "t", **overrides: Any) -> TaskContext:
        n = next(counter)
        namespace = overrides.pop("namespace", "company.team")
        flow_id = overrides.pop("flow_id", "flow")
        execution_id = overrides.pop("execution_id", "exec1")
        working_dir = overrides.pop("working_dir", None) or tmp_path / f"work-{task_id}-{n}"
        Path(working_dir).mkdir(parents=True, exist_ok=True)
        variables = {"flow": {"namespace": namespace, "id": flow_id},
                     "execution": {"id": execution_id, "startDate": "2024-01-01T00:00:00Z", "state": "RUNNING"}}
        variables.update(overrides.pop("variables", {}))
        fields: dict[str, Any] = dict(
            task_id=task_id, task_type="test", variables=variables, logger=RecordingLogger(),
            working_dir=Path(working_dir),
            storage=storage.for_task(namespace, flow_id, execution_id, task_id, f"run{n}"),
            kv=kv, namespace=namespace, flow_id=flow_id, execution_id=execution_id,
            taskrun=TaskRunInfo(id=f"run{n}", task_id=task_id, start_date="2024-01-01T00:00:00Z"),
            renderer=simple_render,
        )
        fields.update(overrides)
        return TaskContext(**fields)

    yield factory
    kv.close()


# --------------------------------------------------------------------------- HTTP receiver
@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers from a script."""

    server: ThreadingHTTPServer
    requests: list[Recorded] = field(default_factory=list)
    #: Answers for the next requests: (status, headers, body); when empty, 200 "ok".
    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, *answers: tuple[int, dict[str, str], str]) -> None:
        self.script.extend(answers)


@pytest.fixture
def receiver():
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            rec = holder["r"]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            rec.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body, time.monotonic()))
            status, headers, text = rec.script.pop(0) if rec.script else (200, {}, "ok")
            data = text.encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET = do_PUT = _handle

        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield holder["r"]
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------- SMTP server
@dataclass
class SmtpPeer:
    host: str
    port: int
    messages: list[Any] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)  # per accepted message: was the session encrypted


@dataclass
class TestCA:
    """A throw-away CA (``ca_pem`` path) and a server certificate for 127.0.0.1/localhost it signed."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path

    def server_context(self):
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_pem, self.key_pem)
        return context


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory) -> TestCA:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kestra-dagster test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    out = TestCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    out.ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return out


def _start_smtp(**controller_options):
    """aiosmtpd on a free 127.0.0.1 port requiring AUTH (``mailer`` / ``s3cret-pass``); yields an SmtpPeer."""
    try:
        import aiosmtpd.controller as aiosmtpd
    except ImportError:
        unavailable("aiosmtpd is not installed (pip install -e '.[test]')")
    import socket
    import warnings

    from aiosmtpd.smtp import AuthResult, LoginPassword

    peer = SmtpPeer("127.0.0.1", 0)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            from email import message_from_bytes, policy

            peer.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  message_from_bytes(envelope.content, policy=policy.default)))
            peer.tls.append(server.transport.get_extra_info("ssl_object") is not None)
            return "250 Message accepted for delivery"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"mailer" and auth_data.password == b"s3cret-pass"
        return AuthResult(success=ok, handled=False)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        peer.port = probe.getsockname()[1]
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    controller = aiosmtpd.Controller(Handler(), hostname="127.0.0.1", port=peer.port, authenticator=authenticator,
                                     auth_required=True, ready_timeout=10, **controller_options)
    controller.start()
    try:
        yield peer
    finally:
        controller.stop()


@pytest.fixture
def smtp_server():
    """Plain SMTP (no TLS offered), AUTH allowed in clear."""
    yield from _start_smtp(auth_require_tls=False)


@pytest.fixture
def smtps_server(test_ca):
    """Implicit TLS from the first byte (port 465 style) with the test CA's certificate."""
    # aiosmtpd only counts STARTTLS as TLS for auth_require_tls; the whole session is encrypted here
    # (each message records whether its transport was TLS, which the tests check)
    yield from _start_smtp(ssl_context=test_ca.server_context(), auth_require_tls=False)


@pytest.fixture
def starttls_server(test_ca):
    """Plain connection that must be upgraded with STARTTLS before AUTH and MAIL (port 587 style)."""
    yield from _start_smtp(tls_context=test_ca.server_context(), require_starttls=True, auth_require_tls=True)
