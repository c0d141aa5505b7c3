"""What every internal-storage backend shares: Kestra URIs, their checks, the execution/task scopes.

A module of its own so the backends (``engine.storage`` for the local filesystem,
``engine.storage_s3``) build on it without importing each other.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import quote, unquote

from kestra_dagster.errors import KestraDagsterError

SCHEME = "kestra"
#: Characters kept as-is in URIs (RFC 3986 path characters); everything else is %-encoded.
_SAFE = "/-_.~!$&'()*+,;=:@"


class StorageError(KestraDagsterError, ValueError):
    """A storage URI or file name is invalid, escapes the storage root, or cannot be read."""


class StorageFileNotFound(StorageError, FileNotFoundError):
    """The URI is valid but no file exists there."""


def _check_segment(value: str, what: str) -> str:
    """One path segment (namespace part, flow id, execution id…): no separators, no dot-dirs."""
    if not isinstance(value, str) or not value:
        raise StorageError(f"{what} must be a non-empty string, got {value!r}")
    if "/" in value or "\\" in value or value in (".", "..") or "\x00" in value:
        raise StorageError(f"{what} {value!r} cannot be used in a storage path")
    return value


def _check_name(name: str) -> list[str]:
    """A relative file name (may contain sub-directories) → its parts; refuses escapes."""
    if not isinstance(name, str) or not name.strip():
        raise StorageError(f"file name must be a non-empty string, got {name!r}")
    posix = name.replace("\\", "/")
    if posix.startswith("/"):
        raise StorageError(f"file name {name!r} must be relative")
    parts = [p for p in posix.split("/") if p not in ("", ".")]
    if not parts:
        raise StorageError(f"file name {name!r} has no file part")
    if any(p == ".." or "\x00" in p for p in parts):
        raise StorageError(f"file name {name!r} escapes its storage folder ('..' is not allowed)")
    return parts


def namespace_parts(namespace: str) -> list[str]:
    """``company.team`` → ``["company", "team"]`` (Kestra stores namespaces as folders)."""
    if not isinstance(namespace, str) or not namespace:
        raise StorageError(f"namespace must be a non-empty string, got {namespace!r}")
    return [_check_segment(p, "namespace part") for p in namespace.split(".")]


class _Storage:
    """What every backend shares: URIs, their checks, and the execution/task scopes.

    A backend implements ``put_file_at``, ``put_bytes_at``, ``local_path``, ``read_bytes``,
    ``exists``, ``delete`` and ``list_uris``.
    """

    # ----------------------------------------------------------- URIs
    def uri_for(self, parts: list[str]) -> str:
        return f"{SCHEME}:///" + quote("/".join(parts), safe=_SAFE)

    def relative_parts(self, uri: str) -> list[str]:
        """The path segments a ``kestra://`` URI names, checked not to escape the base."""
        if not isinstance(uri, str):
            raise StorageError(f"expected a kestra:// URI, got {type(uri).__name__}")
        text = uri.strip()
        prefix = f"{SCHEME}:"
        if not text.lower().startswith(prefix):
            raise StorageError(f"not an internal storage URI (expected kestra:///…): {uri!r}")
        # kestra:///a/b and kestra://a/b (host read as first segment) both name a/b.
        path = unquote(text[len(prefix):].split("?", 1)[0].split("#", 1)[0]).replace("\\", "/")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if not parts:
            raise StorageError(f"storage URI {uri!r} names no file")
        if any(p == ".." or "\x00" in p for p in parts):
            raise StorageError(f"refusing storage URI {uri!r}: it escapes the storage root ('..')")
        return parts

    # ----------------------------------------------------------- scopes
    def execution_prefix(self, namespace: str, flow_id: str, execution_id: str) -> list[str]:
        return [
            *namespace_parts(namespace),
            _check_segment(flow_id, "flow id"),
            "executions",
            _check_segment(execution_id, "execution id"),
        ]

    def execution_uri(self, namespace: str, flow_id: str, execution_id: str) -> str:
        """URI of an execution's folder (every file of the execution is below it)."""
        return self.uri_for(self.execution_prefix(namespace, flow_id, execution_id))

    def for_task(
        self, namespace: str, flow_id: str, execution_id: str, task_id: str, taskrun_id: str
    ) -> "TaskStorage":
        prefix = self.execution_prefix(namespace, flow_id, execution_id) + [
            "tasks",
            _check_segment(task_id, "task id"),
            _check_segment(taskrun_id, "task run id"),
        ]
        return TaskStorage(self, prefix)

    def put_execution_file(
        self,
        namespace: str,
        flow_id: str,
        execution_id: str,
        local_path: str | os.PathLike,
        name: str | None = None,
    ) -> str:
        """Store a FILE input → ``kestra:///…/executions/<id>/inputs/<name>``.

        ``name`` defaults to the file's base name; it may hold a sub-folder (e.g.
        ``"<input id>/<file name>"``, which is how Kestra itself lays inputs out).
        """
        prefix = self.execution_prefix(namespace, flow_id, execution_id) + ["inputs"]
        return self.put_file_at(prefix, local_path, name)

    def delete_execution(self, namespace: str, flow_id: str, execution_id: str) -> list[str]:
        """Remove every stored file of one execution (PurgeCurrentExecutionFiles); the deleted URIs."""
        uris = self.list_uris(self.execution_prefix(namespace, flow_id, execution_id))
        for uri in uris:
            self.delete(uri)
        return uris

    def state_location(self, namespace: str, flow_id: str | None, name: str,
                       value: str | None = None) -> tuple[list[str], str]:
        """Where a ``state.*`` task's JSON file lives: (folder parts, file name).

        ``<namespace>/<flow_id>/states/<name>/default.json`` — Kestra's state store, kept beside the
        flow's files. Without ``flow_id`` the state is shared by the namespace (``<namespace>/states/…``);
        a ForEach ``value`` names the file by its hash, as Kestra does, so any value is a valid name.
        """
        prefix = [*namespace_parts(namespace)]
        if flow_id is not None:
            prefix.append(_check_segment(flow_id, "flow id"))
        leaf = hashlib.sha256(value.encode("utf-8")).hexdigest()[:32] if value is not None else "default"
        return [*prefix, "states", _check_segment(name, "state name")], f"{leaf}.json"

    def state_uri(self, namespace: str, flow_id: str | None, name: str, value: str | None = None) -> str:
        folder, file_name = self.state_location(namespace, flow_id, name, value)
        return self.uri_for([*folder, file_name])


class TaskStorage:
    """One task run's view of the storage: writes go under its folder, reads accept any URI."""

    def __init__(self, storage: "_Storage", prefix: list[str]):
        self.storage = storage
        self.prefix = list(prefix)

    def __repr__(self) -> str:
        return f"TaskStorage({self.storage.uri_for(self.prefix)!r})"

    @property
    def base_uri(self) -> str:
        return self.storage.uri_for(self.prefix)

    def put_file(self, local_path: Path, name: str | None = None) -> str:
        return self.storage.put_file_at(self.prefix, local_path, name)

    def put_bytes(self, data: bytes, name: str) -> str:
        return self.storage.put_bytes_at(self.prefix, data, name)

    def local_path(self, uri: str) -> Path:
        return self.storage.local_path(uri)

    def read_bytes(self, uri: str) -> bytes:
        return self.storage.read_bytes(uri)

    def exists(self, uri: str) -> bool:
        return self.storage.exists(uri)
