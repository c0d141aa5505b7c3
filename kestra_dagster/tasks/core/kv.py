"""``io.kestra.plugin.core.kv.*``: read and write the namespace key/value store (``ctx.kv``).

Set / Get / Delete / GetKeys, with Kestra's defaults: the namespace defaults to the flow's,
``overwrite`` is true, ``errorOnMissing`` is false, keys follow ``[a-zA-Z0-9][a-zA-Z0-9._-]*``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, ClassVar, Literal

from kestra_dagster.engine.kv import KVError, validate_key, validate_namespace
from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import Duration, parse_duration
from kestra_dagster.tasks.base import RunnableTask

KVType = Literal["STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON"]




class _KVTask(RunnableTask):
    key: str
    namespace: str | None = None

    def _namespace(self, ctx) -> str:
        ns = ctx.render_str(self.namespace, prop="namespace") if self.namespace is not None else ctx.namespace
        try:
            return validate_namespace((ns or "").strip())
        except KVError as exc:
            raise TaskFailed(str(exc)) from None

    def _key(self, ctx) -> str:
        key = (ctx.render_str(self.key, prop="key") or "").strip()
        try:
            return validate_key(key)
        except KVError as exc:
            raise TaskFailed(str(exc)) from None


def _typed(value: Any, kv_type: str) -> Any:
    """Kestra's ``kvType`` conversion, applied to string values only (as in ``kv.Set``)."""
    if not isinstance(value, str) or kv_type == "STRING":
        return value
    text = value.strip()
    try:
        if kv_type == "NUMBER":
            number = json.loads(text)
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise ValueError("not a number")
            return number
        if kv_type == "BOOLEAN":
            return text.lower() == "true"  # Boolean.parseBoolean
        if kv_type == "JSON":
            return json.loads(text)
        if kv_type == "DATETIME":
            datetime.fromisoformat(text.replace("Z", "+00:00"))
            return text
        if kv_type == "DATE":
            (date if len(text) == 10 else datetime).fromisoformat(text.replace("Z", "+00:00"))
            return text
        if kv_type == "DURATION":
            parse_duration(text)
            return text.upper()
    except ValueError as exc:
        raise TaskFailed(f"value {value!r} is not a valid {kv_type}: {exc}") from None
    return value


class Set(_KVTask):
    """Create or replace a key/value pair (optionally with a time-to-live)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.kv.Set"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()

    value: Any
    overwrite: bool | str = True
    ttl: Duration | None = None
    kvType: KVType | str | None = None
    kvDescription: str | None = None

    def run(self, ctx) -> dict[str, Any]:
        namespace = self._namespace(ctx)
        key = self._key(ctx)
        value = ctx.render(self.value, prop="value")
        if self.kvType is not None:
            kv_type = (ctx.render_str(self.kvType, prop="kvType") or "").strip().upper()
            if kv_type not in KVType.__args__:  # type: ignore[attr-defined]
                raise TaskFailed(f"property 'kvType' must be one of {', '.join(KVType.__args__)}, got {kv_type!r}")  # type: ignore[attr-defined]
            value = _typed(value, kv_type)
        ttl_seconds = None
        if self.ttl is not None:
            rendered = ctx.render_str(self.ttl, prop="ttl")
            try:
                ttl_seconds = parse_duration(rendered).total_seconds()
            except ValueError as exc:
                raise TaskFailed(f"property 'ttl': {exc}") from None
            if ttl_seconds <= 0:
                raise TaskFailed(f"property 'ttl' must be a positive duration, got {rendered!r}")
        if not ctx.render_bool(self.overwrite, "overwrite") and ctx.kv.get(namespace, key) is not None:
            raise TaskFailed(
                f"Cannot set value for key '{key}' in namespace '{namespace}': "
                "the key already exists and `overwrite` is set to `false`"
            )
        try:
            ctx.kv.set(namespace, key, value, ttl_seconds=ttl_seconds)
        except KVError as exc:
            raise TaskFailed(f"cannot store key '{key}': {exc}") from None
        ctx.logger.debug(f"KV '{key}' set in namespace '{namespace}'")
        return {}


class Get(_KVTask):
    """Read the value of a key (``null`` when missing, unless ``errorOnMissing``)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.kv.Get"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()

    errorOnMissing: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        namespace = self._namespace(ctx)
        key = self._key(ctx)
        value = ctx.kv.get(namespace, key)
        if value is None and ctx.render_bool(self.errorOnMissing, "errorOnMissing"):
            raise TaskFailed(
                f"No value found for key '{key}' in namespace '{namespace}' and `errorOnMissing` is set to true"
            )
        return {"value": value}


class Delete(_KVTask):
    """Delete a key; ``deleted`` says whether there was one."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.kv.Delete"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()

    errorOnMissing: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        namespace = self._namespace(ctx)
        key = self._key(ctx)
        deleted = ctx.kv.delete(namespace, key)
        if not deleted and ctx.render_bool(self.errorOnMissing, "errorOnMissing"):
            raise TaskFailed(
                f"No value found for key '{key}' in namespace '{namespace}' and `errorOnMissing` is set to true"
            )
        return {"deleted": deleted}


class GetKeys(RunnableTask):
    """List the keys of a namespace, optionally only those starting with ``prefix``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.kv.GetKeys"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()

    prefix: str | None = None
    namespace: str | None = None

    def run(self, ctx) -> dict[str, Any]:
        ns = ctx.render_str(self.namespace, prop="namespace") if self.namespace is not None else ctx.namespace
        try:
            namespace = validate_namespace((ns or "").strip())
        except KVError as exc:
            raise TaskFailed(str(exc)) from None
        prefix = ctx.render_str(self.prefix, prop="prefix") or ""
        return {"keys": [k for k in ctx.kv.keys(namespace) if k.startswith(prefix)]}
