"""Helpers the storage tasks share."""

from __future__ import annotations

import json
import uuid
from typing import Any

from kestra_dagster.errors import TaskFailed


def render_uri(ctx, value: Any, prop: str) -> str:
    uri = (ctx.render_str(value, prop=prop) or "").strip()
    if not uri.lower().startswith("kestra://"):
        raise TaskFailed(f"property '{prop}' must be an internal storage URI (kestra:///…), got {uri!r}")
    return uri


def render_uri_list(ctx, value: Any, prop: str) -> list[str]:
    """A list of URIs written as a YAML list, or rendered to a JSON list string (``{{ … | toJson }}``)."""
    rendered = ctx.render(value, prop)
    if isinstance(rendered, str):
        text = rendered.strip()
        if text.startswith("["):
            try:
                rendered = json.loads(text)
            except ValueError as exc:
                raise TaskFailed(f"property '{prop}' is not a valid JSON list: {exc}") from None
        else:
            rendered = [text]
    if isinstance(rendered, dict):  # e.g. outputFiles: {name: uri}
        rendered = list(rendered.values())
    if not isinstance(rendered, list):
        raise TaskFailed(f"property '{prop}' must be a list of kestra:// URIs")
    uris = []
    for item in rendered:
        if isinstance(item, list):
            uris.extend(str(i).strip() for i in item)
        else:
            uris.append(str(item).strip())
    for uri in uris:
        if not uri.lower().startswith("kestra://"):
            raise TaskFailed(f"property '{prop}': {uri!r} is not an internal storage URI (kestra:///…)")
    return uris


def read(ctx, uri: str, prop: str) -> bytes:
    try:
        return ctx.storage.read_bytes(uri)
    except Exception as exc:  # noqa: BLE001 - StorageError says what is wrong
        raise TaskFailed(f"property '{prop}': cannot read {uri}: {exc}") from None


def new_name(extension: str | None) -> str:
    ext = (extension or "").strip()
    if ext and not ext.startswith("."):
        ext = "." + ext
    return f"{uuid.uuid4().hex}{ext}"


def separator_bytes(ctx, value: Any, prop: str, charset: str = "utf-8") -> bytes:
    text = ctx.render_str(value, prop=prop) if value is not None else ""
    return (text or "").encode(charset)
