"""What the S3 tasks share: the client (path-style with an endpoint override, bounded timeouts),
Kestra's listing (``prefix``/``delimiter``/``marker``/``maxKeys``/``regexp``/``filter``), the
``S3Object`` output shape and streaming an object into internal storage.

Errors from S3 become ``TaskFailed`` naming the call, bucket and key (``aws_errors``); a partly
downloaded file is removed before the error is raised.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.aws._connection import AwsTask, aws_errors, import_boto3

CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60


class S3Task(AwsTask):
    """Connection + ``forcePathStyle``; not a task itself."""

    kestra_family: ClassVar[str] = "aws"
    compute_kind: ClassVar[str | None] = "s3"

    forcePathStyle: bool | str | None = None

    def s3(self, ctx):
        import_boto3(f"the {self.type} task")
        from botocore.config import Config

        path_style = None if self.forcePathStyle is None else ctx.render_bool(self.forcePathStyle, "forcePathStyle")
        if path_style is None:
            path_style = bool(self.endpointOverride) or (
                self.compatibilityMode is not None and ctx.render_bool(self.compatibilityMode, "compatibilityMode"))
        config = Config(connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
                        retries={"max_attempts": 2, "mode": "standard"},
                        s3={"addressing_style": "path" if path_style else "auto"})
        with aws_errors(ctx, "S3 connection"):
            return self.client(ctx, "s3", config)

    def required(self, ctx, value: Any, prop: str) -> str:
        text = (ctx.render_str(value, prop) or "").strip() if value is not None else ""
        if not text:
            raise TaskFailed(f"property '{prop}' is required")
        return text

    def optional(self, ctx, value: Any, prop: str) -> str | None:
        return ctx.render_str(value, prop) if value is not None else None

    def integer(self, ctx, value: Any, prop: str, default: int) -> int:
        if value is None:
            return default
        rendered = ctx.render(value, prop) if isinstance(value, str) else value
        try:
            return int(str(rendered).strip())
        except ValueError:
            raise TaskFailed(f"property '{prop}' must be an integer, got {rendered!r}") from None


class S3ListMixin(S3Task):
    """Kestra's ``ListInterface`` properties and listing (ListObjectsV2, paginated, capped)."""

    bucket: str
    requestPayer: str | None = None
    prefix: str | None = None
    delimiter: str | None = None
    marker: str | None = None
    encodingType: str | None = None
    maxKeys: int | str = 1000
    expectedBucketOwner: str | None = None
    regexp: str | None = None
    filter: Literal["FILES", "DIRECTORY", "BOTH"] | str = "BOTH"

    def list_objects(self, ctx, client) -> list[dict[str, Any]]:
        bucket = self.required(ctx, self.bucket, "bucket")
        max_keys = self.integer(ctx, self.maxKeys, "maxKeys", 1000)
        request: dict[str, Any] = {"Bucket": bucket, "MaxKeys": min(max_keys, 1000)}
        for prop, arg in (("prefix", "Prefix"), ("delimiter", "Delimiter"), ("marker", "StartAfter"),
                          ("encodingType", "EncodingType"), ("expectedBucketOwner", "ExpectedBucketOwner"),
                          ("requestPayer", "RequestPayer")):
            value = self.optional(ctx, getattr(self, prop), prop)
            if value is not None:
                request[arg] = value
        regexp = self.optional(ctx, self.regexp, "regexp")
        try:
            pattern = re.compile(regexp) if regexp is not None else None
        except re.error as exc:
            raise TaskFailed(f"property 'regexp' is not a valid regular expression: {exc}") from None
        kind = str(ctx.render_str(self.filter, "filter")).upper()
        if kind not in ("FILES", "DIRECTORY", "BOTH"):
            raise TaskFailed(f"property 'filter' must be FILES, DIRECTORY or BOTH, got {kind!r}")
        found: list[dict[str, Any]] = []
        with aws_errors(ctx, f"S3 ListObjectsV2 of bucket {bucket!r}"):
            while True:
                ctx.check_cancelled()
                page = client.list_objects_v2(**request)
                found.extend(page.get("Contents") or [])
                if len(found) >= max_keys or not page.get("IsTruncated") or not page.get("NextContinuationToken"):
                    break
                request["ContinuationToken"] = page["NextContinuationToken"]
        found = found[:max_keys]
        return [s3_object(o) for o in found
                if (pattern is None or pattern.fullmatch(o["Key"]))
                and (kind == "BOTH" or (kind == "DIRECTORY") == o["Key"].endswith("/"))]


def s3_object(raw: dict[str, Any]) -> dict[str, Any]:
    """Kestra's ``S3Object`` output: key, etag, size, lastModified, owner (uri once downloaded)."""
    owner = raw.get("Owner")
    modified = raw.get("LastModified")
    return {
        "key": raw["Key"],
        "etag": raw.get("ETag"),
        "size": raw.get("Size"),
        "lastModified": modified.isoformat().replace("+00:00", "Z") if modified is not None else None,
        "owner": {"id": owner.get("ID"), "displayName": owner.get("DisplayName")} if owner else None,
    }


def download_to_storage(ctx, client, bucket: str, key: str, extra: dict[str, Any] | None = None
                        ) -> tuple[str, dict[str, Any]]:
    """Stream ``s3://bucket/key`` into internal storage; (kestra:// URI, GetObject response headers)."""
    ctx.check_cancelled()
    name = PurePosixPath(key).name or "object"
    fd, tmp = tempfile.mkstemp(prefix=".kestra-s3-", dir=str(ctx.working_dir) if ctx.working_dir else None)
    os.close(fd)
    try:
        with aws_errors(ctx, f"S3 GetObject of s3://{bucket}/{key}"):
            response = client.get_object(Bucket=bucket, Key=key, **(extra or {}))
            with open(tmp, "wb") as out:
                for chunk in response["Body"].iter_chunks(1 << 20):
                    out.write(chunk)
        uri = ctx.storage.put_file(Path(tmp), name)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return uri, response


def checksum_of(response: dict[str, Any]) -> tuple[str | None, str | None]:
    for algorithm in ("CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"):
        value = response.get(f"Checksum{algorithm}")
        if value:
            return algorithm, value
    return None, None
