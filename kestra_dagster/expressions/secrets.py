"""``secret('NAME')`` backends, compatible with Kestra OSS and friendlier locally.

Lookup order for a name (case-insensitive, as Kestra upper-cases it):

1. ``SECRET_<NAME>``: base64-encoded, exactly like Kestra OSS's environment secrets;
2. ``KESTRA_SECRET_<NAME>``: the plain value (no base64), handy for local runs;
3. ``$KESTRA_SECRETS_DIR/<name>`` (or ``<NAME>``): file contents, one trailing newline stripped
   (Docker/Kubernetes secret mounts).

Names containing characters other than letters, digits and ``_`` also match environment
variables with those characters replaced by ``_`` (``my-key`` → ``SECRET_MY_KEY``).

Every value returned is recorded in :attr:`SecretResolver.revealed` so the runtime can mask
it in logs; values never appear in error messages.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
from pathlib import Path
from typing import Mapping

from kestra_dagster.errors import ExpressionError

_VALID_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}")
MAX_SECRET_BYTES = 1_000_000


class SecretResolver:
    """Resolves secret names to values; records what it revealed.

    ``env`` defaults to the live process environment; ``secrets_dir`` defaults to the
    ``KESTRA_SECRETS_DIR`` variable of that environment, read at lookup time.
    """

    def __init__(self, env: Mapping[str, str] | None = None, secrets_dir: str | None = None):
        self._env = env
        self._secrets_dir = secrets_dir
        self.revealed: set[str] = set()
        self._lock = threading.Lock()

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ if self._env is None else self._env

    @property
    def secrets_dir(self) -> str | None:
        return self._secrets_dir if self._secrets_dir is not None else self.env.get("KESTRA_SECRETS_DIR")

    # ------------------------------------------------------------------ lookup
    def get(self, name: str) -> str:
        """The secret's value; :class:`ExpressionError` if it is missing or malformed."""
        if not isinstance(name, str) or not _VALID_NAME.fullmatch(name) or ".." in name:
            shown = name if isinstance(name, str) and len(name) <= 60 else type(name).__name__
            raise ExpressionError(f"invalid secret name {shown!r}: use letters, digits, '_', '-' and '.'")
        value = self._lookup(name)
        if value is None:
            raise ExpressionError(self._missing_message(name))
        self.remember(value)
        return value

    __call__ = get

    def remember(self, value: str) -> None:
        """Record a value (or a part of one, e.g. a JSON sub-key) for log masking."""
        if value:
            with self._lock:
                self.revealed.add(value)

    def _env_names(self, name: str) -> list[str]:
        upper = name.upper()
        names = [upper]
        normalized = re.sub(r"[^A-Z0-9_]", "_", upper)
        if normalized != upper:
            names.append(normalized)
        return names

    def _lookup(self, name: str) -> str | None:
        env = self.env
        for key in self._env_names(name):
            encoded = env.get(f"SECRET_{key}")
            if encoded is not None:
                return _decode(name, f"SECRET_{key}", encoded)
        for key in self._env_names(name):
            plain = env.get(f"KESTRA_SECRET_{key}")
            if plain is not None:
                return plain
        directory = self.secrets_dir
        if directory:
            for candidate in dict.fromkeys([name, name.upper()]):
                path = Path(directory) / candidate
                try:
                    if path.is_file():
                        data = path.read_bytes()[: MAX_SECRET_BYTES + 1]
                        if len(data) > MAX_SECRET_BYTES:
                            raise ExpressionError(f"secret file for '{name}' is larger than 1 MB")
                        text = data.decode("utf-8")
                        return text[:-1] if text.endswith("\n") else text
                except UnicodeDecodeError:
                    raise ExpressionError(f"secret file for '{name}' is not UTF-8 text") from None
                except OSError as exc:
                    raise ExpressionError(f"cannot read the secret file for '{name}': {exc.strerror}") from None
        return None

    def _missing_message(self, name: str) -> str:
        key = self._env_names(name)[-1]
        msg = f"secret '{name}' is not defined; set SECRET_{key} (base64) or KESTRA_SECRET_{key}"
        if self.secrets_dir:
            msg += f", or create {Path(self.secrets_dir) / name}"
        return msg


def _decode(name: str, var: str, encoded: str) -> str:
    compact = "".join(encoded.split())
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ExpressionError(
            f"secret '{name}': {var} is not valid base64 (Kestra expects base64 in SECRET_ variables; "
            f"use KESTRA_SECRET_{var[len('SECRET_'):]} for a plain value)"
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ExpressionError(f"secret '{name}': {var} does not decode to UTF-8 text") from None
