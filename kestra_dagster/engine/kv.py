"""Namespace key/value stores (Kestra's KV store) that implement ``engine.context.KVBackend``.

``SQLiteKV`` keeps entries in one SQLite file and is what plain-Python runs and tests use; the
Dagster-backed store lives in ``instance_kv``. Both store values as JSON with an optional expiry
(epoch seconds): an expired entry reads as missing and is removed lazily.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from kestra_dagster.errors import KestraDagsterError

#: Kestra's rule (``KVStore.validateKey``).
KEY_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
KEY_RULE = (
    "a KV key must start with a letter or a digit and contain only letters, digits, "
    "dots (.), underscores (_) and hyphens (-)"
)
NAMESPACE_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")


class KVError(KestraDagsterError, ValueError):
    """Invalid key or namespace, or a value that cannot be stored."""


def validate_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise KVError(f"KV key cannot be empty (got {key!r})")
    if not KEY_PATTERN.match(key):
        raise KVError(f"invalid KV key {key!r}: {KEY_RULE}")
    return key


def validate_namespace(namespace: Any) -> str:
    if not isinstance(namespace, str) or not NAMESPACE_PATTERN.match(namespace):
        raise KVError(f"invalid namespace {namespace!r} for the KV store")
    return namespace


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"a value of type {type(value).__name__} cannot be stored in the KV store")


def format_duration(value: timedelta) -> str:
    """timedelta → ISO-8601 (``PT1H30M``), as Kestra stores Duration values."""
    total = value.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = f"{sign}P"
    if days:
        out += f"{int(days)}D"
    time_part = ""
    if hours:
        time_part += f"{int(hours)}H"
    if minutes:
        time_part += f"{int(minutes)}M"
    if seconds or not (days or hours or minutes):
        time_part += f"{seconds:g}S"
    return out + ("T" + time_part if time_part else "")


def encode_entry(value: Any, ttl_seconds: float | None, now: float | None = None) -> str:
    """``{"value": …, "expires": epoch | null}`` as JSON text."""
    if ttl_seconds is not None and ttl_seconds <= 0:
        raise KVError(f"KV ttl must be positive, got {ttl_seconds} s")
    expires = None if ttl_seconds is None else (now if now is not None else time.time()) + ttl_seconds
    try:
        return json.dumps({"value": value, "expires": expires}, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise KVError(str(exc)) from None


def decode_entry(raw: str | None, now: float | None = None) -> tuple[bool, Any]:
    """(present, value) for a stored entry; expired, deleted or unreadable entries are absent."""
    if raw is None:
        return False, None
    try:
        entry = json.loads(raw)
    except ValueError:
        return False, None
    if not isinstance(entry, dict) or entry.get("deleted"):
        return False, None
    expires = entry.get("expires")
    if expires is not None and float(expires) <= (now if now is not None else time.time()):
        return False, None
    return True, entry.get("value")


class SQLiteKV:
    """KVBackend in one SQLite file (``path``; ``":memory:"`` for a throw-away store)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
        with self._lock:
            self._conn.execute("PRAGMA busy_timeout = 30000")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS kestra_kv ("
                " namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
                " expires REAL, updated REAL NOT NULL, PRIMARY KEY (namespace, key))"
            )

    def __repr__(self) -> str:
        return f"SQLiteKV({self.path!r})"

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _purge(self, namespace: str, key: str | None = None) -> None:
        sql = "DELETE FROM kestra_kv WHERE namespace = ? AND expires IS NOT NULL AND expires <= ?"
        args: list[Any] = [namespace, time.time()]
        if key is not None:
            sql += " AND key = ?"
            args.append(key)
        self._conn.execute(sql, args)

    def get(self, namespace: str, key: str) -> Any | None:
        validate_namespace(namespace)
        validate_key(key)
        with self._lock:
            self._purge(namespace, key)
            row = self._conn.execute(
                "SELECT value FROM kestra_kv WHERE namespace = ? AND key = ?", (namespace, key)
            ).fetchone()
        return decode_entry(row[0])[1] if row else None

    def set(self, namespace: str, key: str, value: Any, ttl_seconds: float | None = None) -> None:
        validate_namespace(namespace)
        validate_key(key)
        now = time.time()
        raw = encode_entry(value, ttl_seconds, now)
        expires = json.loads(raw)["expires"]
        with self._lock:
            self._conn.execute(
                "INSERT INTO kestra_kv (namespace, key, value, expires, updated) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value,"
                " expires = excluded.expires, updated = excluded.updated",
                (namespace, key, raw, expires, now),
            )

    def delete(self, namespace: str, key: str) -> bool:
        validate_namespace(namespace)
        validate_key(key)
        with self._lock:
            self._purge(namespace, key)
            cur = self._conn.execute("DELETE FROM kestra_kv WHERE namespace = ? AND key = ?", (namespace, key))
        return cur.rowcount > 0

    def keys(self, namespace: str) -> list[str]:
        validate_namespace(namespace)
        with self._lock:
            self._purge(namespace)
            rows = self._conn.execute(
                "SELECT key FROM kestra_kv WHERE namespace = ? ORDER BY key", (namespace,)
            ).fetchall()
        return [r[0] for r in rows]

    def namespaces(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT namespace FROM kestra_kv ORDER BY namespace").fetchall()
        return [r[0] for r in rows]

    def purge(self, namespace: str, *, expired_only: bool, key_filter: Callable[[str], bool] | None = None) -> int:
        validate_namespace(namespace)
        now = time.time()
        with self._lock:
            rows = self._conn.execute("SELECT key, expires FROM kestra_kv WHERE namespace = ?", (namespace,)).fetchall()
            doomed = [key for key, expires in rows if purgeable(key, expires, now, expired_only, key_filter)]
            for key in doomed:
                self._conn.execute("DELETE FROM kestra_kv WHERE namespace = ? AND key = ?", (namespace, key))
        return len(doomed)


class MemoryKV:
    """KVBackend in a dict (single process; for tests and dry runs)."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, namespace: str, key: str) -> Any | None:
        with self._lock:
            present, value = decode_entry(self._data.get((namespace, validate_key(key))))
            if not present:
                self._data.pop((namespace, key), None)
            return value if present else None

    def set(self, namespace: str, key: str, value: Any, ttl_seconds: float | None = None) -> None:
        raw = encode_entry(value, ttl_seconds)
        with self._lock:
            self._data[(validate_namespace(namespace), validate_key(key))] = raw

    def delete(self, namespace: str, key: str) -> bool:
        with self._lock:
            raw = self._data.pop((namespace, validate_key(key)), None)
        return decode_entry(raw)[0]

    def keys(self, namespace: str) -> list[str]:
        with self._lock:
            return sorted(k for (ns, k), raw in self._data.items() if ns == namespace and decode_entry(raw)[0])

    def namespaces(self) -> list[str]:
        with self._lock:
            return sorted({ns for ns, _ in self._data})

    def purge(self, namespace: str, *, expired_only: bool, key_filter: Callable[[str], bool] | None = None) -> int:
        now = time.time()
        with self._lock:
            doomed = [k for (ns, k), raw in self._data.items()
                      if ns == namespace and purgeable(k, entry_expiry(raw), now, expired_only, key_filter)]
            for key in doomed:
                del self._data[(namespace, key)]
        return len(doomed)


def entry_expiry(raw: str | None) -> float | None:
    """The expiry (epoch seconds) of a stored entry, None when it never expires."""
    try:
        expires = json.loads(raw).get("expires") if raw else None
    except (ValueError, AttributeError):
        return None
    return float(expires) if expires is not None else None


def purgeable(key: str, expires: float | None, now: float, expired_only: bool,
              key_filter: Callable[[str], bool] | None) -> bool:
    """Whether ``kv.PurgeKV`` deletes this entry: its key matches, and it expired unless any will do."""
    if key_filter is not None and not key_filter(key):
        return False
    return not expired_only or (expires is not None and expires <= now)


__all__ = [
    "KEY_PATTERN",
    "KVError",
    "MemoryKV",
    "SQLiteKV",
    "decode_entry",
    "encode_entry",
    "format_duration",
    "validate_key",
    "validate_namespace",
]
