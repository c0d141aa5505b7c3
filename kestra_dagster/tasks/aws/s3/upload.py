"""``io.kestra.plugin.aws.s3.Upload``: put one file, or several under a base key, into a bucket.

``from`` is a ``kestra://`` URI (or a file in the working directory), a list of them (each
stored as ``<key>/<file name>``) or a map ``name → URI`` (stored as ``<key>/<name>``), also as a
JSON string. The file is streamed from disk (``PutObject`` with the open file), never loaded
whole. Outputs: ``bucket``, ``key``, ``eTag``, ``versionId`` and, for several files, ``files``
(name → eTag, versionId…).
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from pydantic import Field

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.aws._connection import aws_errors
from kestra_dagster.tasks.aws.s3._common import S3Task

#: Kestra property → PutObject argument, for the plain string ones.
_PUT_ARGS = {
    "cacheControl": "CacheControl", "contentType": "ContentType", "contentEncoding": "ContentEncoding",
    "contentDisposition": "ContentDisposition", "contentLanguage": "ContentLanguage", "acl": "ACL",
    "storageClass": "StorageClass", "serverSideEncryption": "ServerSideEncryption",
    "checksumAlgorithm": "ChecksumAlgorithm", "expectedBucketOwner": "ExpectedBucketOwner",
    "objectLockMode": "ObjectLockMode", "objectLockLegalHoldStatus": "ObjectLockLegalHoldStatus",
    "requestPayer": "RequestPayer",
}


class Upload(S3Task):
    """Upload files (kestra:// URIs: one, a list or a name → URI map) to an S3 bucket."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.aws.s3.Upload"

    bucket: str
    key: str
    from_: Any = Field(alias="from")
    requestPayer: str | None = None
    metadata: dict[str, Any] | str | None = None
    cacheControl: str | None = None
    contentType: str | None = None
    contentEncoding: str | None = None
    contentDisposition: str | None = None
    contentLanguage: str | None = None
    contentLength: int | str | None = None
    expires: str | None = None
    acl: str | None = None
    storageClass: str | None = None
    serverSideEncryption: str | None = None
    bucketKeyEnabled: bool | str | None = None
    checksumAlgorithm: str | None = None
    expectedBucketOwner: str | None = None
    objectLockMode: str | None = None
    objectLockLegalHoldStatus: str | None = None
    objectLockRetainUntilDate: str | None = None
    checksum: str | None = None
    tagging: dict[str, Any] | str | None = None
    concurrentUploads: int | str = 50

    def run(self, ctx) -> dict[str, Any]:
        bucket = self.required(ctx, self.bucket, "bucket")
        key = self.required(ctx, self.key, "key")
        files = self._sources(ctx)
        if not files:
            raise TaskFailed("No files to upload: the 'from' property is empty")
        extra = self._put_args(ctx)
        client = self.s3(ctx)
        if len(files) == 1:
            source = next(iter(files.values()))
            result = self._put(ctx, client, bucket, key, source, extra)
            return {"bucket": bucket, "key": key, **result, "files": None}
        infos = {}
        for name, source in files.items():
            final = str(PurePosixPath(key) / name)
            infos[name] = {"key": final, **self._put(ctx, client, bucket, final, source, extra)}
        return {"bucket": bucket, "key": key, "eTag": None, "versionId": None, "files": infos}

    def _sources(self, ctx) -> dict[str, Path]:
        value = ctx.render(self.from_, "from")
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise TaskFailed(f"property 'from' looks like JSON but is not: {exc}") from None
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            pairs = [(PurePosixPath(str(v).strip()).name, str(v).strip()) for v in value]
        elif isinstance(value, dict):
            pairs = [(str(k), str(v).strip()) for k, v in value.items()]
        else:
            raise TaskFailed(f"property 'from' must be a URI, a list of URIs or a map of name → URI, "
                             f"got {type(value).__name__}")
        return {name: self._local(ctx, source) for name, source in pairs}

    def _local(self, ctx, source: str) -> Path:
        if source.startswith("kestra://"):
            try:
                path = ctx.storage.local_path(source)
            except Exception as exc:  # noqa: BLE001 - storage says why
                raise TaskFailed(f"property 'from': cannot read {source}: {exc}") from None
        else:
            path = Path(source) if Path(source).is_absolute() else Path(ctx.working_dir) / source
        if not path.is_file():
            raise TaskFailed(f"property 'from': file {source!r} does not exist")
        return path

    def _put_args(self, ctx) -> dict[str, Any]:
        args: dict[str, Any] = {}
        for prop, arg in _PUT_ARGS.items():
            value = self.optional(ctx, getattr(self, prop), prop)
            if value is not None:
                args[arg] = value
        if self.metadata is not None:
            meta = ctx.render(self.metadata, "metadata")
            meta = json.loads(meta) if isinstance(meta, str) else meta
            args["Metadata"] = {str(k): str(v) for k, v in (meta or {}).items()}
        if self.tagging is not None:
            tags = ctx.render(self.tagging, "tagging")
            tags = json.loads(tags) if isinstance(tags, str) else tags
            from urllib.parse import urlencode
            args["Tagging"] = urlencode({str(k): str(v) for k, v in (tags or {}).items()})
        if self.bucketKeyEnabled is not None:
            args["BucketKeyEnabled"] = ctx.render_bool(self.bucketKeyEnabled, "bucketKeyEnabled")
        if self.expires is not None:
            args["Expires"] = self.optional(ctx, self.expires, "expires")
        if self.objectLockRetainUntilDate is not None:
            args["ObjectLockRetainUntilDate"] = self.optional(ctx, self.objectLockRetainUntilDate,
                                                              "objectLockRetainUntilDate")
        return args

    def _put(self, ctx, client, bucket: str, key: str, source: Path, extra: dict[str, Any]) -> dict[str, Any]:
        ctx.check_cancelled()
        ctx.logger.debug(f"Uploading to 's3://{bucket}/{key}'")
        with aws_errors(ctx, f"S3 PutObject of s3://{bucket}/{key}"), source.open("rb") as body:
            response = client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        size = source.stat().st_size
        ctx.logger.info(f"uploaded {size} bytes to s3://{bucket}/{key}")
        return {"eTag": response.get("ETag"), "versionId": response.get("VersionId")}
