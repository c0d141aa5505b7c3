"""Kestra's KV store on the Dagster instance database (``engine.context.KVBackend``).

Entries live in the run storage's key/value table (the one Dagster uses for sensor cursors),
under keys ``kestra/kv/<namespace>/<key>``, each holding JSON ``{"value": …, "expires": epoch|null}``.
Reads and writes go through the public ``get_cursor_values`` / ``set_cursor_values``; deleting and
listing have no public API in dagster 1.13, so they run SQL on the ``kvs`` table of a
``SqlRunStorage`` (every storage Dagster ships: SQLite, Postgres, MySQL, in-memory). All private
API use is in ``_sql_run_storage``, ``_sql_delete`` and ``_sql_keys`` below. On any other run
storage, delete writes a tombstone and keys come from a per-namespace index entry.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Callable

from kestra_dagster.engine.kv import (
    KVError,
    decode_entry,
    encode_entry,
    entry_expiry,
    purgeable,
    validate_key,
    validate_namespace,
)

if TYPE_CHECKING:
    from dagster import DagsterInstance

KEY_PREFIX = "kestra/kv/"
_INDEX_PREFIX = "kestra/kv-index/"
_TOMBSTONE = json.dumps({"value": None, "expires": None, "deleted": True})


def storage_key(namespace: str, key: str) -> str:
    return f"{KEY_PREFIX}{validate_namespace(namespace)}/{validate_key(key)}"


# --------------------------------------------------------------------------- private Dagster API
def _sql_run_storage(instance: "DagsterInstance") -> Any | None:
    """The instance's ``SqlRunStorage`` or None (private Dagster API, see ``compat.sql_run_storage``)."""
    from kestra_dagster.compat import sql_run_storage

    return sql_run_storage(instance)


def _sql_delete(sql_storage: Any, keys: list[str]) -> None:
    from kestra_dagster.compat import kv_table

    KeyValueStoreTable = kv_table()  # noqa: N806 - Dagster's table

    with sql_storage.connect() as conn:
        conn.execute(KeyValueStoreTable.delete().where(KeyValueStoreTable.c.key.in_(keys)))


def _sql_keys(sql_storage: Any, prefix: str) -> dict[str, str]:
    from kestra_dagster.compat import kv_table

    KeyValueStoreTable = kv_table()  # noqa: N806 - Dagster's table

    query = KeyValueStoreTable.select().with_only_columns(
        KeyValueStoreTable.c.key, KeyValueStoreTable.c.value
    ).where(KeyValueStoreTable.c.key.startswith(prefix, autoescape=True))
    with sql_storage.connect() as conn:
        rows = conn.execute(query).fetchall()
    return {row[0]: row[1] for row in rows}


# --------------------------------------------------------------------------- backend
class DagsterInstanceKV:
    """KVBackend on ``instance``'s key/value table: values survive the run and the process."""

    def __init__(self, instance: "DagsterInstance"):
        self.instance = instance
        self._sql = _sql_run_storage(instance)

    def __repr__(self) -> str:
        return f"DagsterInstanceKV({type(self.instance.run_storage).__name__})"

    def _read(self, skey: str) -> str | None:
        return self.instance.run_storage.get_cursor_values({skey}).get(skey)

    def get(self, namespace: str, key: str) -> Any | None:
        skey = storage_key(namespace, key)
        raw = self._read(skey)
        present, value = decode_entry(raw)
        if raw is not None and not present and self._sql is not None:
            _sql_delete(self._sql, [skey])  # expired: clean up lazily
        return value if present else None

    def set(self, namespace: str, key: str, value: Any, ttl_seconds: float | None = None) -> None:
        skey = storage_key(namespace, key)
        self.instance.run_storage.set_cursor_values({skey: encode_entry(value, ttl_seconds)})
        if self._sql is None:
            self._index_update(namespace, add=key)

    def delete(self, namespace: str, key: str) -> bool:
        skey = storage_key(namespace, key)
        present, _ = decode_entry(self._read(skey))
        if self._sql is not None:
            _sql_delete(self._sql, [skey])
        elif present:
            self.instance.run_storage.set_cursor_values({skey: _TOMBSTONE})
            self._index_update(namespace, remove=key)
        return present

    def keys(self, namespace: str) -> list[str]:
        prefix = f"{KEY_PREFIX}{validate_namespace(namespace)}/"
        now = time.time()
        if self._sql is not None:
            rows = _sql_keys(self._sql, prefix)
            live, expired = [], []
            for skey, raw in rows.items():
                (live if decode_entry(raw, now)[0] else expired).append(skey[len(prefix):])
            if expired:
                _sql_delete(self._sql, [prefix + k for k in expired])
            return sorted(live)
        names = self._index(namespace)
        values = self.instance.run_storage.get_cursor_values({prefix + k for k in names}) if names else {}
        return sorted(k for k in names if decode_entry(values.get(prefix + k), now)[0])

    def namespaces(self) -> list[str]:
        if self._sql is not None:
            return sorted({skey[len(KEY_PREFIX):].split("/", 1)[0] for skey in _sql_keys(self._sql, KEY_PREFIX)})
        raise KVError("listing every KV namespace needs a SQL run storage; give PurgeKV its namespaces")

    def purge(self, namespace: str, *, expired_only: bool, key_filter: Callable[[str], bool] | None = None) -> int:
        prefix = f"{KEY_PREFIX}{validate_namespace(namespace)}/"
        now = time.time()
        if self._sql is not None:
            rows = _sql_keys(self._sql, prefix)
        else:
            names = self._index(namespace)
            rows = self.instance.run_storage.get_cursor_values({prefix + k for k in names}) if names else {}
        doomed = [skey for skey, raw in rows.items() if raw is not None and raw != _TOMBSTONE
                  and purgeable(skey[len(prefix):], entry_expiry(raw), now, expired_only, key_filter)]
        if self._sql is not None:
            if doomed:
                _sql_delete(self._sql, doomed)
        else:
            for skey in doomed:
                self.instance.run_storage.set_cursor_values({skey: _TOMBSTONE})
                self._index_update(namespace, remove=skey[len(prefix):])
        return len(doomed)

    # ---------------------------------------------------- index (non-SQL run storages only)
    def _index(self, namespace: str) -> list[str]:
        ikey = _INDEX_PREFIX + namespace
        raw = self.instance.run_storage.get_cursor_values({ikey}).get(ikey)
        try:
            names = json.loads(raw) if raw else []
        except ValueError:
            names = []
        return [n for n in names if isinstance(n, str)]

    def _index_update(self, namespace: str, add: str | None = None, remove: str | None = None) -> None:
        names = set(self._index(namespace))
        if add:
            names.add(add)
        if remove:
            names.discard(remove)
        self.instance.run_storage.set_cursor_values({_INDEX_PREFIX + namespace: json.dumps(sorted(names))})


__all__ = ["DagsterInstanceKV", "KEY_PREFIX", "storage_key"]
