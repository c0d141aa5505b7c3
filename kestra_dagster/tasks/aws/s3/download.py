"""``io.kestra.plugin.aws.s3.Download``: one object (``key``) or every object a filter matches
(``prefix``/``delimiter``/``regexp``, at most ``maxFiles``) into internal storage.

Single mode outputs ``uri``, ``eTag``, ``contentLength``, ``contentType``, ``metadata``,
``versionId``, ``checksumAlgorithm``/``checksumValue``; filter mode outputs ``files`` (key → those
fields). The object is streamed to disk in 1 MiB chunks.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.aws.s3._common import S3ListMixin, checksum_of, download_to_storage


class Download(S3ListMixin):
    """Download an S3 object (``key``), or those matching prefix/regexp, into internal storage."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.aws.s3.Download"

    key: str | None = None
    versionId: str | None = None
    maxFiles: int | str = 25
    validateChecksum: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        bucket = self.required(ctx, self.bucket, "bucket")
        filtered = self.prefix is not None or self.delimiter is not None or self.regexp is not None
        if self.key is None and not filtered:
            raise TaskFailed("set 'key' to download one object, or 'prefix', 'delimiter' or 'regexp' "
                             "to download the objects they match")
        client = self.s3(ctx)
        extra = self._get_args(ctx)
        if not filtered:
            key = self.required(ctx, self.key, "key")
            if self.versionId is not None:
                extra["VersionId"] = self.optional(ctx, self.versionId, "versionId")
            uri, response = download_to_storage(ctx, client, bucket, key, extra)
            ctx.logger.info(f"downloaded s3://{bucket}/{key} ({response.get('ContentLength')} bytes)")
            return _file_info(uri, response)
        objects = self.list_objects(ctx, client)
        max_files = self.integer(ctx, self.maxFiles, "maxFiles", 25)
        if not objects:
            ctx.logger.warning("No objects found matching the filter criteria")
        if len(objects) > max_files:
            ctx.logger.warning(f"{len(objects)} objects match but maxFiles is {max_files}: "
                               f"only the first {max_files} are downloaded")
            objects = objects[:max_files]
        files = {}
        for obj in objects:
            uri, response = download_to_storage(ctx, client, bucket, obj["key"], extra)
            files[obj["key"]] = _file_info(uri, response)
        return {"files": files}

    def _get_args(self, ctx) -> dict[str, Any]:
        args: dict[str, Any] = {}
        for prop, arg in (("requestPayer", "RequestPayer"), ("expectedBucketOwner", "ExpectedBucketOwner")):
            value = self.optional(ctx, getattr(self, prop), prop)
            if value is not None:
                args[arg] = value
        if ctx.render_bool(self.validateChecksum, "validateChecksum"):
            args["ChecksumMode"] = "ENABLED"
        return args


def _file_info(uri: str, response: dict[str, Any]) -> dict[str, Any]:
    algorithm, value = checksum_of(response)
    return {"uri": uri, "eTag": response.get("ETag"), "contentLength": response.get("ContentLength"),
            "contentType": response.get("ContentType"), "metadata": response.get("Metadata") or {},
            "versionId": response.get("VersionId"), "checksumAlgorithm": algorithm, "checksumValue": value}
