"""``io.kestra.plugin.aws.s3.Copy``: server-side copy ``from`` {bucket, key, versionId} to ``to``
{bucket, key} (each defaulting to the source's); ``delete: true`` removes the source after.
Outputs ``bucket``, ``key``, ``eTag``, ``versionId``."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kestra_dagster.model.common import KestraModel
from kestra_dagster.tasks.aws._connection import aws_errors
from kestra_dagster.tasks.aws.s3._common import S3Task
from kestra_dagster.tasks.aws.s3.downloads import CopyObject


class CopyObjectFrom(CopyObject):
    versionId: str | None = None


class Copy(S3Task):
    """Copy an S3 object server-side (optionally deleting the source: a move)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.aws.s3.Copy"

    from_: CopyObjectFrom = Field(alias="from")
    to: CopyObject | None = None
    delete: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        source_bucket = self.required(ctx, self.from_.bucket, "from.bucket")
        source_key = self.required(ctx, self.from_.key, "from.key")
        to = self.to or CopyObject()
        bucket = self.required(ctx, to.bucket, "to.bucket") if to.bucket else source_bucket
        key = self.required(ctx, to.key, "to.key") if to.key else source_key
        source: dict[str, Any] = {"Bucket": source_bucket, "Key": source_key}
        if self.from_.versionId:
            source["VersionId"] = self.optional(ctx, self.from_.versionId, "from.versionId")
        args: dict[str, Any] = {"Bucket": bucket, "Key": key, "CopySource": source}
        sse = self.optional(ctx, to.serverSideEncryption, "to.serverSideEncryption")
        if sse and sse.upper() != "NONE":
            args["ServerSideEncryption"] = {"AES256": "AES256", "AWS_KMS": "aws:kms"}.get(sse.upper(), sse)
            if to.kmsKeyId:
                args["SSEKMSKeyId"] = self.optional(ctx, to.kmsKeyId, "to.kmsKeyId")
        client = self.s3(ctx)
        what = f"S3 CopyObject of s3://{source_bucket}/{source_key} to s3://{bucket}/{key}"
        with aws_errors(ctx, what):
            response = client.copy_object(**args)
        if ctx.render_bool(self.delete, "delete"):
            with aws_errors(ctx, f"S3 DeleteObject of s3://{source_bucket}/{source_key}"):
                client.delete_object(Bucket=source_bucket, Key=source_key)
        ctx.logger.info(f"copied s3://{source_bucket}/{source_key} to s3://{bucket}/{key}")
        return {"bucket": bucket, "key": key, "eTag": (response.get("CopyObjectResult") or {}).get("ETag"),
                "versionId": response.get("VersionId")}
