"""Kestra's internal storage in an S3 bucket (``kestra.storage.type: s3``), through boto3.

A URI ``kestra:///a/b/c.txt`` is the object ``a/b/c.txt`` of the bucket: the layout Kestra's own
S3 storage uses, so files written by one process (a run container, a pod) are read by any other
without a shared volume. Any S3-compatible endpoint works (MinIO, Ceph, moto): with ``endpoint``
set, requests use path-style addressing.

``local_path`` is for code that needs a real file (script ``inputFiles``, ``fileSize()``, HTTP
uploads): the object is downloaded once into a per-process cache, checked against the object's
ETag on every call (a URI written again is downloaded again), and the cache is removed when the
process exits. Callers must treat that path as read-only.

Errors are :class:`StorageError` naming the bucket, the endpoint and what to change; credentials
never appear in them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from kestra_dagster.engine.storage_base import StorageError, StorageFileNotFound, _check_name, _Storage

#: Error codes S3 answers when the access key or its signature is wrong, or the key may not do this.
_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken",
               "InvalidClientTokenId", "403", "Forbidden"}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}

_cache_lock = threading.Lock()
_cache_root: Path | None = None


def _cache_dir() -> Path:
    """One download cache per process, removed at exit (run workers are short-lived processes)."""
    global _cache_root
    with _cache_lock:
        if _cache_root is None or not _cache_root.is_dir():
            _cache_root = Path(tempfile.mkdtemp(prefix="kestra-s3-cache-"))
            atexit.register(shutil.rmtree, str(_cache_root), True)
        return _cache_root


class S3Storage(_Storage):
    """Internal storage in ``bucket``; ``endpoint`` for S3-compatible servers (path-style)."""

    def __init__(self, bucket: str, *, endpoint: str | None = None, region: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None, client: Any = None):
        if not bucket:
            raise StorageError("S3 storage needs a bucket (kestra.storage.s3.bucket)")
        self.bucket = bucket
        self.endpoint = endpoint or None
        self.region = region or None
        self._client = client or _make_client(self.endpoint, self.region, access_key, secret_key)
        self._etags: dict[str, str] = {}  # key -> ETag of the cached download

    def __repr__(self) -> str:  # no credentials
        return f"S3Storage(bucket={self.bucket!r}, endpoint={self.endpoint!r})"

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}" + (f" at {self.endpoint}" if self.endpoint else "")

    def key_for(self, uri: str) -> str:
        return "/".join(self.relative_parts(uri))

    # ----------------------------------------------------------- reading
    def read_bytes(self, uri: str) -> bytes:
        key = self.key_for(uri)
        try:
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:  # noqa: BLE001 - turned into a StorageError that says what to do
            raise self._error(exc, "read", uri) from None

    def exists(self, uri: str) -> bool:
        try:
            key = self.key_for(uri)
        except StorageError:
            return False
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
            return True
        except Exception as exc:  # noqa: BLE001
            error = self._error(exc, "check", uri)
            if isinstance(error, StorageFileNotFound):
                return False
            raise error from None

    def local_path(self, uri: str) -> Path:
        """A local, read-only copy of the object (downloaded unless the cached copy is current)."""
        key = self.key_for(uri)
        try:
            etag = self._client.head_object(Bucket=self.bucket, Key=key)["ETag"]
            target = _cache_dir() / self.bucket / key
            if self._etags.get(key) == etag and target.is_file():
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
            os.close(fd)
            try:
                self._client.download_file(self.bucket, key, tmp)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except StorageError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "download", uri) from None
        self._etags[key] = etag
        return target

    def list_uris(self, prefix: list[str]) -> list[str]:
        """URIs of every object below the folder ``prefix`` names, sorted."""
        folder = "/".join(prefix) + "/"
        uris: list[str] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
                uris += [self.uri_for(obj["Key"].split("/")) for obj in page.get("Contents", [])]
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "list", self.uri_for(prefix)) from None
        return sorted(uris)

    # ----------------------------------------------------------- writing
    def put_file_at(self, prefix: list[str], local_path: str | os.PathLike, name: str | None = None) -> str:
        source = Path(local_path)
        if not source.is_file():
            raise StorageError(f"cannot store {str(source)!r}: not a file")
        uri = self.uri_for(prefix + _check_name(name if name is not None else source.name))
        try:
            self._client.upload_file(str(source), self.bucket, self.key_for(uri))
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "write", uri) from None
        return uri

    def put_bytes_at(self, prefix: list[str], data: bytes, name: str) -> str:
        uri = self.uri_for(prefix + _check_name(name))
        try:
            self._client.put_object(Bucket=self.bucket, Key=self.key_for(uri), Body=bytes(data))
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "write", uri) from None
        return uri

    def delete(self, uri: str) -> bool:
        """S3 deletes silently; the HEAD before tells whether there was a file (Kestra's ``deleted``)."""
        if not self.exists(uri):
            return False
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self.key_for(uri))
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "delete", uri) from None
        return True

    # ----------------------------------------------------------- errors
    def _error(self, exc: Exception, action: str, uri: str) -> StorageError:
        code, message = _error_code(exc)
        if code in _MISSING_CODES:
            return StorageFileNotFound(f"file not found in internal storage: {uri}")
        if code == "NoSuchBucket":
            return StorageError(f"cannot {action} {uri}: bucket {self.bucket!r} does not exist ({self.where}); "
                                "create it or fix kestra.storage.s3.bucket")
        if code in _AUTH_CODES:
            return StorageError(f"cannot {action} {uri}: {self.where} refused the credentials ({code}); check "
                                "kestra.storage.s3.access-key / secret-key (KESTRA_STORAGE_S3_ACCESS_KEY / "
                                "KESTRA_STORAGE_S3_SECRET_KEY) and the key's permissions on the bucket")
        if code == "NoCredentials":
            return StorageError(f"cannot {action} {uri}: no S3 credentials for {self.where}; set "
                                "kestra.storage.s3.access-key and secret-key (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")
        if code == "EndpointConnection":
            return StorageError(f"cannot {action} {uri}: S3 endpoint unreachable ({self.where}): {message}; "
                                "check kestra.storage.s3.endpoint and that the server is up")
        return StorageError(f"cannot {action} {uri} in {self.where}: {code}: {message}")


def _error_code(exc: Exception) -> tuple[str, str]:
    """(code, message) of a botocore error; boto3's transfer wraps ClientErrors, so look inside."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    seen = exc
    for _ in range(3):
        if isinstance(seen, ClientError):
            err = seen.response.get("Error", {})
            status = str(seen.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            return str(err.get("Code") or status or "ClientError"), str(err.get("Message") or "")
        if isinstance(seen, NoCredentialsError):
            return "NoCredentials", str(seen)
        if isinstance(seen, EndpointConnectionError):
            return "EndpointConnection", str(seen)
        seen = seen.__cause__ or seen.__context__ or seen
    return type(exc).__name__, str(exc).splitlines()[0][:300] if str(exc) else ""


def _make_client(endpoint: str | None, region: str | None, access_key: str | None, secret_key: str | None):
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise StorageError("kestra.storage.type: s3 needs boto3: pip install 'kestra-dagster[aws]'") from None
    kwargs: dict[str, Any] = {"region_name": region or ("us-east-1" if endpoint else None)}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    if access_key:
        kwargs["aws_access_key_id"] = access_key
        kwargs["aws_secret_access_key"] = secret_key
    # bounded waits: a dead endpoint fails the task in seconds instead of hanging it
    config = Config(s3={"addressing_style": "path" if endpoint else "auto"}, connect_timeout=5, read_timeout=60,
                    retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("s3", config=config, **kwargs)


__all__ = ["S3Storage"]
