"""Real peers for the credential tasks, on loopback: an OAuth 2.0 token endpoint and moto's AWS server.

``TokenEndpoint`` is a small HTTP server that answers like Google's and Microsoft's token
endpoints and checks what they check: the RS256 signature of a service account's JWT-bearer
assertion (with the account's public key; ``iss``, ``aud``, ``scope``, ``exp``), and the client
id + secret (or the certificate-signed client assertion) of Azure's client-credentials grant.
A wrong key or secret gets their 400/401 answer. ``service_account_key(url)`` makes a fresh key
(JSON, as the GCP console exports it) whose ``token_uri`` is the endpoint.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.server
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_jwt(token: str, public_key) -> tuple[dict, dict]:
    """(header, claims) of an RS256 JWT; raises ValueError when the signature does not verify."""
    head, body, sig = token.split(".")
    try:
        public_key.verify(_unb64(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise ValueError("bad signature") from None
    header = json.loads(_unb64(head))
    if header.get("alg") != "RS256":
        raise ValueError(f"alg {header.get('alg')}")
    return header, json.loads(_unb64(body))


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def service_account_key(token_uri: str, key=None, email: str = "builder@kd-test.iam.gserviceaccount.com") -> tuple[str, object]:
    """(JSON key text, private key) of a service account whose token_uri is ``token_uri``."""
    key = key or rsa_key()
    doc = {"type": "service_account", "project_id": "kd-test", "private_key_id": uuid.uuid4().hex,
           "private_key": private_pem(key), "client_email": email, "client_id": "1234567890",
           "token_uri": token_uri}
    return json.dumps(doc), key


def self_signed_pem(key, name: str = "kd-test-app") -> tuple[str, bytes]:
    """(PEM private key + certificate, as Azure's pemCertificate holds them, certificate DER)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    return private_pem(key) + cert.public_bytes(serialization.Encoding.PEM).decode(), der


def registry_token(key, cert_der: bytes, repositories: list[str], issuer: str = "kd-test-issuer",
                   service: str = "kd-registry", lifetime: int = 600) -> str:
    """A bearer token a ``docker-registry`` with ``auth.token`` accepts: RS256, the issuer's
    certificate in ``x5c``, push+pull access to ``repositories`` (what a token service issues)."""
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(cert_der).decode()]}
    claims = {"iss": issuer, "sub": "kd-test", "aud": service, "exp": now + lifetime, "nbf": now - 30,
              "iat": now, "jti": uuid.uuid4().hex,
              "access": [{"type": "repository", "name": r, "actions": ["pull", "push"]} for r in repositories]}

    def part(doc: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


@dataclass
class TokenEndpoint:
    """``with TokenEndpoint() as ep:`` → ``ep.url``; register accounts/clients, read ``ep.requests``."""

    token: str = field(default_factory=lambda: "ya29." + uuid.uuid4().hex + uuid.uuid4().hex)
    expires_in: int = 3599
    accounts: dict = field(default_factory=dict)  # client_email → public key
    clients: dict = field(default_factory=dict)  # (tenant, client_id) → {"secret": str} | {"cert_der": bytes, "key": pub}
    requests: list = field(default_factory=list)

    def __enter__(self) -> "TokenEndpoint":
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                endpoint.requests.append((self.path, form))
                url = f"{endpoint.url}{self.path}"
                status, body = endpoint.answer(self.path, url, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def _ok(self) -> tuple[int, dict]:
        return 200, {"access_token": self.token, "expires_in": self.expires_in, "token_type": "Bearer"}

    def answer(self, path: str, url: str, form: dict) -> tuple[int, dict]:
        if path == "/token":
            return self._google(url, form)
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self._azure(parts[0], url, form)
        return 404, {"error": "not_found"}

    def _google(self, url: str, form: dict) -> tuple[int, dict]:
        if form.get("grant_type") != JWT_BEARER:
            return 400, {"error": "unsupported_grant_type"}
        try:
            _, unverified = form["assertion"].split(".")[:2]
            claims = json.loads(_unb64(unverified))
            public = self.accounts[claims["iss"]]
            _, claims = verify_jwt(form["assertion"], public)
        except (KeyError, ValueError):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if claims.get("aud") != url or not claims.get("scope") or not claims["iat"] <= time.time() + 60 <= claims["exp"] + 60:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT claims."}
        return self._ok()

    def _azure(self, tenant: str, url: str, form: dict) -> tuple[int, dict]:
        client = self.clients.get((tenant, form.get("client_id")))
        if form.get("grant_type") != "client_credentials" or not form.get("scope"):
            return 400, {"error": "invalid_request"}
        if client is None:
            return 400, {"error": "unauthorized_client", "error_description": "AADSTS700016: application not found"}
        if "secret" in client:
            if form.get("client_secret") != client["secret"]:
                return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
            return self._ok()
        try:
            if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
                raise ValueError("no assertion")
            header, claims = verify_jwt(form["client_assertion"], client["key"])
            thumb = base64.urlsafe_b64encode(hashlib.sha1(client["cert_der"]).digest()).rstrip(b"=").decode()  # noqa: S324
            if header.get("x5t") != thumb or claims.get("aud") != url or claims.get("iss") != form["client_id"]:
                raise ValueError("claims")
        except (KeyError, ValueError):
            return 401, {"error": "invalid_client", "error_description": "AADSTS700027: Client assertion failed signature validation."}
        return self._ok()


class MotoServer:
    """moto's AWS server (ECR, STS…) on a free loopback port: ``with MotoServer() as endpoint:``.

    ``enforce_auth(endpoint, free_requests)``: after ``free_requests`` more requests (to create an
    IAM user and its key), the server checks every request's signature and IAM policy, as AWS does.
    That countdown is global to the process moto runs in, so a test that uses it asks for
    ``MotoServer(own_process=True)``: in the test process, every other moto server (the session's
    S3, polled by sensors) would spend the free requests too.
    """

    def __init__(self, own_process: bool = False) -> None:
        self.own_process = own_process

    def __enter__(self) -> str:
        from kestra_dagster.testing import free_port, wait_until

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        if self.own_process:
            import subprocess
            import sys

            import httpx

            self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

            def up() -> bool:
                try:
                    return httpx.get(f"{url}/moto-api/", timeout=2).status_code < 500
                except httpx.HTTPError:
                    return False

            wait_until(up, 60, what="moto's server process")
            return url
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        return url

    def __exit__(self, *exc) -> None:
        if self.own_process:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except Exception:  # noqa: BLE001 - still running: kill it
                self.proc.kill()
                self.proc.wait(timeout=10)
            return
        self.server.stop()

    @staticmethod
    def enforce_auth(endpoint: str, free_requests: int) -> float:
        """Returns the previous setting, for ``enforce_auth(endpoint, previous)`` afterwards."""
        import httpx

        response = httpx.post(f"{endpoint}/moto-api/reset-auth", content=str(free_requests).encode(), timeout=10)
        response.raise_for_status()
        return response.json()["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
