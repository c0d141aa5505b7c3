"""What the OAuth access-token tasks (``gcp.auth`` and ``azure.auth``) share.

* ``signed_jwt``: an RS256 JWT (the service account's assertion for Google's JWT-bearer grant,
  the client assertion of Azure's certificate credentials), signed with ``cryptography``.
* ``request_token``: POST a token request form and return ``access_token``/``expires_in``. A
  refused request (wrong secret: 400/401) or an unreachable endpoint fails the task with the
  endpoint, the status and the server's ``error``, never the secret.
* ``token_output``: Kestra's ``accessToken{scopes, tokenValue, expirationTime}``, the token
  marked as a secret output (masked in every log line and output preview of the run).
"""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from kestra_dagster.errors import TaskFailed

TOKEN_TIMEOUT_SECONDS = 30.0
_ERROR_TEXT_LIMIT = 300


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_private_key(pem: str, what: str):
    """An RSA private key from PEM text; a clear error (without the key) when it is not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise TaskFailed(f"{what} is not an unencrypted PEM private key ({type(exc).__name__})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TaskFailed(f"{what} must be an RSA key (RS256), got {type(key).__name__}")
    return key


def signed_jwt(private_key, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = {"alg": "RS256", "typ": "JWT", **(headers or {})}
    signing_input = f"{b64url(json.dumps(header, separators=(',', ':')).encode())}." \
                    f"{b64url(json.dumps(claims, separators=(',', ':')).encode())}"
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def request_token(ctx, url: str, form: dict[str, str], what: str) -> dict[str, Any]:
    """POST ``form`` to the token endpoint ``url``; → its JSON (with ``access_token``)."""
    ctx.check_cancelled()
    try:
        response = httpx.post(url, data=form, headers={"Accept": "application/json"}, timeout=TOKEN_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise TaskFailed(ctx.mask(f"{what}: cannot reach the token endpoint {url}: {type(exc).__name__}: {exc}. "
                                  "Check the endpoint and the network")) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        detail = ""
        if isinstance(body, dict) and body.get("error"):
            detail = f": {body['error']}"
            if body.get("error_description"):
                detail += f" ({str(body['error_description'])[:_ERROR_TEXT_LIMIT]})"
        elif response.text:
            detail = f": {response.text[:_ERROR_TEXT_LIMIT]}"
        hint = " Check the credentials" if response.status_code in (400, 401, 403) else ""
        raise TaskFailed(ctx.mask(f"{what}: the token endpoint {url} refused the request "
                                  f"(HTTP {response.status_code}){detail}.{hint}"))
    if not isinstance(body, dict) or not body.get("access_token"):
        raise TaskFailed(f"{what}: the token endpoint {url} answered without an access_token")
    return body


def token_output(ctx, body: dict[str, Any], scopes: list[str]) -> dict[str, Any]:
    """Kestra's ``accessToken`` output; the token value is a secret output."""
    expires = None
    if body.get("expires_in") is not None:
        try:
            seconds = int(body["expires_in"])
        except (TypeError, ValueError):
            seconds = None
        if seconds is not None:
            expires = (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat(timespec="seconds")
    return {"accessToken": {
        "scopes": list(scopes),  # the requested scopes, as Kestra reports them
        "tokenValue": ctx.secret_output(str(body["access_token"])),
        "expirationTime": expires,
    }}


def now() -> int:
    return int(time.time())
