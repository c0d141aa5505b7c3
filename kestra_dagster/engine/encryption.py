"""Secret values at rest: AES-256-GCM with the configured key, as Kestra's encrypted outputs.

Kestra encrypts secret outputs (``EncryptedString``, type ``io.kestra.datatype:aes_encrypted``)
with ``kestra.encryption.secret-key``. Here a secret value never lands in clear where a run is
stored: the execution state Dagster pickles between ops and a gate keeps in its store
(``ExecutionState``), and a child run's ``run_config`` (Subflow inputs). In memory, during the
run, values are clear so expressions keep working.

The key comes from ``KESTRA_ENCRYPTION_SECRET_KEY`` (exported by the server from
``kestra.encryption.secret-key``: 32 characters, or base64 of 32 bytes). Without one, a key is
generated once into ``$DAGSTER_HOME/.kestra-encryption-key`` (mode 0600) so every process of the
instance shares it; without DAGSTER_HOME, a key lives for this process only.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

KEY_ENV = "KESTRA_ENCRYPTION_SECRET_KEY"
KEY_FILE = ".kestra-encryption-key"
TYPE = "io.kestra.datatype:aes_encrypted"
#: A sealed string: stays a string, so it fits a String run-config field.
PREFIX = "kestra-aes-gcm:v1:"

_lock = threading.Lock()
_cache: dict[str, bytes] = {}


class EncryptionError(ValueError):
    """The key is invalid, or a sealed value cannot be opened with it."""


def _parse_key(text: str) -> bytes:
    raw = text.strip()
    if len(raw.encode()) == 32:
        return raw.encode()
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) == 32:
        return decoded
    raise EncryptionError(f"{KEY_ENV} (kestra.encryption.secret-key) must be 32 characters or base64 of 32 bytes")


def current_key() -> bytes:
    configured = os.environ.get(KEY_ENV)
    if configured:
        return _parse_key(configured)
    home = os.environ.get("DAGSTER_HOME") or ""
    with _lock:
        if home in _cache:
            return _cache[home]
        key = _key_file(Path(home)) if home else os.urandom(32)
        _cache[home] = key
        return key


def _key_file(home: Path) -> bytes:
    path = home / KEY_FILE
    try:
        return base64.b64decode(path.read_text().strip())
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return base64.b64decode(path.read_text().strip())
    with os.fdopen(fd, "w") as out:
        out.write(base64.b64encode(key).decode())
    return key


def encrypt_text(text: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(current_key()).encrypt(nonce, text.encode("utf-8"), None)
    return PREFIX + base64.b64encode(nonce + sealed).decode()


def decrypt_text(text: str) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        blob = base64.b64decode(text[len(PREFIX):])
        return AESGCM(current_key()).decrypt(blob[:12], blob[12:], None).decode("utf-8")
    except (InvalidTag, ValueError, binascii.Error):
        raise EncryptionError("a sealed secret value cannot be decrypted with this server's key "
                              f"({KEY_ENV} / kestra.encryption.secret-key differs from the one that sealed it)") from None


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def contains_secret(text: str, secrets: Iterable[str]) -> bool:
    return any(s and s in text for s in secrets)


def seal(tree: Any, secrets: Iterable[str]) -> Any:
    """``tree`` with every string that contains one of ``secrets`` encrypted (copies containers)."""
    secrets = [s for s in secrets if s]
    if not secrets:
        return tree

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return encrypt_text(v) if not is_sealed(v) and contains_secret(v, secrets) else v
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, tuple):
            return tuple(walk(x) for x in v)
        return v

    return walk(tree)


def unseal(tree: Any, revealed: set[str] | None = None) -> Any:
    """``tree`` with every sealed string decrypted; each decrypted value is added to ``revealed``."""

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            if is_sealed(v):
                clear = decrypt_text(v)
                if revealed is not None:
                    revealed.add(clear)
                return clear
            return v
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, tuple):
            return tuple(walk(x) for x in v)
        return v

    return walk(tree)
