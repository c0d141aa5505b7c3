"""``io.kestra.plugin.core.state.*``: Kestra's (deprecated) per-flow JSON state files.

A state is a JSON map in internal storage (local or S3: the backend's ``state_location``), named
by ``name`` (default ``default``), private to the flow unless ``namespace: true``, and, inside a
ForEach, private to the current ``taskrun.value`` unless ``taskrunValue: false``. Set merges ``data`` into
it, Get reads it, Delete removes it. Kestra keeps them so that flows can remember something
between executions; like Kestra, concurrent executions are not isolated from each other.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from kestra_dagster.config import _deep_merge as deep_merge  # Kestra's MapUtils.merge: nested maps merge
from kestra_dagster.engine.storage import StorageError
from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask


class _StateTask(RunnableTask):
    name: str = "default"
    namespace: bool | str = False
    taskrunValue: bool | str = True

    def _location(self, ctx) -> tuple[str, list[str], str]:
        """(name, folder parts, file name) of this task's state file."""
        name = (ctx.render_str(self.name, prop="name") or "").strip()
        if not name:
            raise TaskFailed("property 'name' must not be empty: it names the state file (default 'default')")
        shared = ctx.render_bool(self.namespace, "namespace")
        value = ctx.taskrun.value if ctx.render_bool(self.taskrunValue, "taskrunValue") else None
        try:
            folder, file_name = self._store(ctx).state_location(ctx.namespace, None if shared else ctx.flow_id, name, value)
        except StorageError as exc:
            raise TaskFailed(f"property 'name': {exc}; use a plain name such as 'default'") from None
        return name, folder, file_name

    def _uri(self, ctx) -> tuple[str, str]:
        name, folder, file_name = self._location(ctx)
        return name, self._store(ctx).uri_for([*folder, file_name])

    @staticmethod
    def _store(ctx):
        store = getattr(ctx.storage, "storage", None)  # TaskStorage → the storage backend
        if store is None or not hasattr(store, "state_location"):
            raise TaskFailed("this internal storage has no state store")
        return store

    def _read(self, ctx, uri: str) -> dict[str, Any] | None:
        store = self._store(ctx)
        if not store.exists(uri):
            return None
        try:
            data = json.loads(store.read_bytes(uri).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise TaskFailed(f"state file {uri} is not valid JSON ({exc}); delete it with state.Delete") from None
        if not isinstance(data, dict):
            raise TaskFailed(f"state file {uri} does not hold a JSON object; delete it with state.Delete")
        return data


class Set(_StateTask):
    """Merge ``data`` into a state (new keys added, existing keys replaced); output ``count`` and ``uri``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.state.Set"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.states.Set",)

    data: dict[str, Any] | str = {}

    def run(self, ctx) -> dict[str, Any]:
        name, folder, file_name = self._location(ctx)
        uri = self._store(ctx).uri_for([*folder, file_name])
        data = ctx.render(self.data, prop="data")
        if isinstance(data, str):  # an expression that renders a JSON object
            try:
                data = json.loads(data) if data.strip() else {}
            except ValueError:
                data = None
        if not isinstance(data, dict):
            raise TaskFailed(f"property 'data' must be a map of keys to values, got {type(data).__name__}")
        merged = deep_merge(self._read(ctx, uri) or {}, data)
        try:
            payload = json.dumps(merged, default=str).encode("utf-8")
        except ValueError as exc:
            raise TaskFailed(f"state '{name}' cannot be stored as JSON: {exc}") from None
        self._store(ctx).put_bytes_at(folder, payload, file_name)
        return {"count": len(merged), "uri": uri}


class Get(_StateTask):
    """Read a state; output ``data`` and its ``count`` (empty when missing, unless ``errorOnMissing``)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.state.Get"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.states.Get",)

    errorOnMissing: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        name, uri = self._uri(ctx)
        data = self._read(ctx, uri)
        if data is None:
            _missing(ctx, self.errorOnMissing, name)
            data = {}
        return {"count": len(data), "data": data}


class Delete(_StateTask):
    """Delete a state; ``deleted`` says whether there was one (``errorOnMissing`` fails instead)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.state.Delete"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.tasks.states.Delete",)

    errorOnMissing: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        name, uri = self._uri(ctx)
        deleted = self._store(ctx).delete(uri)
        if not deleted:
            _missing(ctx, self.errorOnMissing, name)
        return {"deleted": deleted}


def _missing(ctx, error_on_missing: bool | str, name: str) -> None:
    """Get/Delete of a state that does not exist: fine, unless ``errorOnMissing``."""
    if ctx.render_bool(error_on_missing, "errorOnMissing"):
        raise TaskFailed(f"Unable to find the state file '{name}' and `errorOnMissing` is set to true")
