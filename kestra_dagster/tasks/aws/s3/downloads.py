"""``io.kestra.plugin.aws.s3.Downloads``: download every listed object, then ``action`` on the
listed objects: ``DELETE`` them, ``MOVE`` them under ``moveTo`` (copy, then delete), or ``NONE``.
Outputs ``objects`` (each with its ``uri``) and ``outputFiles`` (key → uri)."""

from __future__ import annotations

from posixpath import basename
from typing import Any, ClassVar, Literal

from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import KestraModel
from kestra_dagster.tasks.aws._connection import aws_errors
from kestra_dagster.tasks.aws.s3._common import S3ListMixin, checksum_of, download_to_storage


class CopyObject(KestraModel):
    bucket: str | None = None
    key: str | None = None
    serverSideEncryption: str | None = None
    kmsKeyId: str | None = None


class Downloads(S3ListMixin):
    """Download the objects matching prefix/regexp, then DELETE, MOVE or keep (NONE) them."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.aws.s3.Downloads"

    action: Literal["MOVE", "DELETE", "NONE"] | str
    moveTo: CopyObject | None = None
    maxFiles: int | str = 25
    validateChecksum: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        bucket = self.required(ctx, self.bucket, "bucket")
        action = str(ctx.render_str(self.action, "action")).upper()
        if action not in ("MOVE", "DELETE", "NONE"):
            raise TaskFailed(f"property 'action' must be MOVE, DELETE or NONE, got {action!r}")
        if action == "MOVE" and (self.moveTo is None or self.moveTo.key is None):
            raise TaskFailed("action MOVE needs 'moveTo' with at least a 'key' (the destination folder)")
        client = self.s3(ctx)
        objects = self.list_objects(ctx, client)
        max_files = self.integer(ctx, self.maxFiles, "maxFiles", 25)
        if len(objects) > max_files:
            ctx.logger.warning(f"{len(objects)} objects match but maxFiles is {max_files}: only the first "
                               f"{max_files} are downloaded")
            objects = objects[:max_files]
        extra = {"ChecksumMode": "ENABLED"} if ctx.render_bool(self.validateChecksum, "validateChecksum") else {}
        downloaded = []
        for obj in objects:
            if obj["key"].endswith("/"):
                continue  # a folder marker
            uri, response = download_to_storage(ctx, client, bucket, obj["key"], extra)
            algorithm, value = checksum_of(response)
            downloaded.append({**obj, "uri": uri, "checksumAlgorithm": algorithm, "checksumValue": value})
        ctx.logger.info(f"downloaded {len(downloaded)} object(s) from bucket {bucket!r}, "
                        f"{sum(o['size'] or 0 for o in downloaded)} bytes")
        self._act(ctx, client, bucket, action, objects)
        return {"objects": downloaded, "outputFiles": {o["key"]: o["uri"] for o in downloaded}}

    def _act(self, ctx, client, bucket: str, action: str, objects: list[dict[str, Any]]) -> None:
        if action == "NONE":
            return
        target_bucket = bucket
        if action == "MOVE":
            target_bucket = (ctx.render_str(self.moveTo.bucket, "moveTo.bucket") if self.moveTo.bucket else bucket)
            folder = (ctx.render_str(self.moveTo.key, "moveTo.key") or "").rstrip("/")
        for obj in objects:
            key = obj["key"]
            if action == "MOVE":
                destination = f"{folder}/{basename(key)}" if folder else basename(key)
                with aws_errors(ctx, f"S3 CopyObject of s3://{bucket}/{key} to s3://{target_bucket}/{destination}"):
                    client.copy_object(Bucket=target_bucket, Key=destination, CopySource={"Bucket": bucket, "Key": key})
            with aws_errors(ctx, f"S3 DeleteObject of s3://{bucket}/{key}"):
                client.delete_object(Bucket=bucket, Key=key)
        ctx.logger.info(f"{'moved' if action == 'MOVE' else 'deleted'} {len(objects)} object(s)")
