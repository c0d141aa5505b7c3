"""Kestra's internal storage: the local filesystem, or an S3 bucket.

Files produced by tasks (script ``outputFiles``, downloads…) and FILE inputs are kept under one
base directory and addressed by Kestra-style URIs::

    kestra:///<namespace with . → />/<flow_id>/executions/<execution_id>/tasks/<task_id>/<taskrun_id>/<name>
    kestra:///<namespace with . → />/<flow_id>/executions/<execution_id>/inputs/<name>

``LocalStorage`` maps a URI to ``<base>/<path after kestra:///>``; ``TaskStorage`` (from
``LocalStorage.for_task``) is what a running task sees as ``ctx.storage`` and implements the
``InternalStorage`` protocol of ``engine.context``. A URI that would leave the base directory
(``..``, absolute paths, symlinks pointing outside) is refused with ``StorageError``.

``S3Storage`` keeps the same URIs as object keys in one bucket (``kestra.storage.type: s3``), so
several machines (run containers, Kubernetes pods) share files without a shared volume.
``default_storage()`` picks the backend from the environment the configuration exports.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

from kestra_dagster.engine.storage_base import (  # noqa: F401 - re-exported: the storage API lives here
    SCHEME,
    StorageError,
    StorageFileNotFound,
    TaskStorage,
    _check_name,
    _Storage,
    namespace_parts,
)


class LocalStorage(_Storage):
    """Internal storage rooted at ``base_path`` (created on first write)."""

    def __init__(self, base_path: str | os.PathLike):
        self.base_path = Path(base_path).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.base_path)!r})"

    def path_for(self, uri: str) -> Path:
        """Local path of ``uri`` (need not exist yet); refuses anything outside the base."""
        parts = self.relative_parts(uri)
        path = self.base_path.joinpath(*parts)
        resolved = path.resolve()
        if resolved != self.base_path and self.base_path not in resolved.parents:
            raise StorageError(f"refusing storage URI {uri!r}: it resolves outside the storage root")
        return path

    def local_path(self, uri: str) -> Path:
        """Local path of an existing stored file; ``StorageFileNotFound`` when there is none."""
        path = self.path_for(uri)
        if not path.is_file():
            raise StorageFileNotFound(f"file not found in internal storage: {uri}")
        return path

    def read_bytes(self, uri: str) -> bytes:
        return self.local_path(uri).read_bytes()

    def exists(self, uri: str) -> bool:
        try:
            return self.path_for(uri).is_file()
        except StorageError:
            return False

    def delete(self, uri: str) -> bool:
        path = self.path_for(uri)
        if path.is_file():
            path.unlink()
            return True
        return False

    # ----------------------------------------------------------- writing
    def _target(self, prefix: list[str], name: str) -> tuple[Path, str]:
        uri = self.uri_for(prefix + _check_name(name))
        return self.path_for(uri), uri

    def _write(self, target: Path, write) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def put_file_at(self, prefix: list[str], local_path: str | os.PathLike, name: str | None = None) -> str:
        source = Path(local_path)
        if not source.is_file():
            raise StorageError(f"cannot store {str(source)!r}: not a file")
        target, uri = self._target(prefix, name if name is not None else source.name)

        def copy(out):
            with open(source, "rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)

        self._write(target, copy)
        return uri

    def put_bytes_at(self, prefix: list[str], data: bytes, name: str) -> str:
        target, uri = self._target(prefix, name)
        self._write(target, lambda out: out.write(bytes(data)))
        return uri

    def list_uris(self, prefix: list[str]) -> list[str]:
        """URIs of every file below the folder ``prefix`` names, sorted."""
        folder = self.base_path.joinpath(*prefix)
        if not folder.is_dir():
            return []
        return sorted(self.uri_for(prefix + list(p.relative_to(folder).parts))
                      for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))

    def delete_execution(self, namespace: str, flow_id: str, execution_id: str) -> list[str]:
        uris = self.list_uris(self.execution_prefix(namespace, flow_id, execution_id))
        folder = self.base_path.joinpath(*self.execution_prefix(namespace, flow_id, execution_id))
        if folder.is_dir():
            shutil.rmtree(folder)
        return uris


def default_storage_path(env: Mapping[str, str] | None = None) -> Path:
    """``$KESTRA_STORAGE_PATH``, else ``$DAGSTER_HOME/storage/kestra``, else ``./.kestra_storage``."""
    env = os.environ if env is None else env
    explicit = env.get("KESTRA_STORAGE_PATH")
    if explicit:
        return Path(explicit).expanduser()
    dagster_home = env.get("DAGSTER_HOME")
    if dagster_home:
        return Path(dagster_home).expanduser() / "storage" / "kestra"
    return Path.cwd() / ".kestra_storage"


_s3_storages: dict[tuple, "_Storage"] = {}


def default_storage() -> "_Storage":
    """The storage the environment selects: ``KESTRA_STORAGE_TYPE=s3`` (+ ``KESTRA_STORAGE_S3_*``,
    which ``config.KestraConfig.process_env`` exports), else local files under
    :func:`default_storage_path`. S3 storages are kept per settings: one boto3 client per process.
    (A process that only has ``$KESTRA_CONFIGURATION`` gets these variables from
    ``config.export_process_env``, which the code location runs when it loads.)"""
    env = dict(os.environ)
    kind = (env.get("KESTRA_STORAGE_TYPE") or "local").strip().lower()
    if kind == "local":
        return LocalStorage(default_storage_path(env))
    if kind != "s3":
        raise StorageError(f"KESTRA_STORAGE_TYPE={kind!r} is not a storage type (use local or s3)")
    settings = tuple(env.get(f"KESTRA_STORAGE_S3_{k}") or None
                     for k in ("BUCKET", "ENDPOINT", "REGION", "ACCESS_KEY", "SECRET_KEY"))
    storage = _s3_storages.get(settings)
    if storage is None:
        from kestra_dagster.engine.storage_s3 import S3Storage

        bucket, endpoint, region, access_key, secret_key = settings
        if not bucket:
            raise StorageError("KESTRA_STORAGE_TYPE=s3 needs KESTRA_STORAGE_S3_BUCKET (kestra.storage.s3.bucket)")
        storage = _s3_storages.setdefault(settings, S3Storage(
            bucket, endpoint=endpoint, region=region, access_key=access_key, secret_key=secret_key))
    return storage


def tasks_tmp_dir() -> Path | None:
    """Root of task working directories: ``kestra.tasks.tmp-dir.path`` (``$KESTRA_TASKS_TMP_DIR``).

    Read at each run rather than through ``TMPDIR`` (which Python caches at its first temp file).
    A worker running in a container shares this path with the task containers it starts (the
    Docker task runner bind-mounts working directories at the same path), so it must be a volume
    mounted at the same path on the host and in the worker. None: the system temp directory.
    """
    explicit = os.environ.get("KESTRA_TASKS_TMP_DIR", "").strip()
    return Path(explicit).expanduser() if explicit else None


def is_storage_uri(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(f"{SCHEME}://")


__all__ = [
    "LocalStorage",
    "TaskStorage",
    "StorageError",
    "StorageFileNotFound",
    "default_storage",
    "default_storage_path",
    "tasks_tmp_dir",
    "is_storage_uri",
    "namespace_parts",
]
