"""``io.kestra.plugin.aws.s3.Delete``: delete one object; outputs ``versionId``, ``deleteMarker``,
``requestCharged`` (S3 answers the same whether or not the key existed)."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.tasks.aws._connection import aws_errors
from kestra_dagster.tasks.aws.s3._common import S3Task


class Delete(S3Task):
    """Delete an object from an S3 bucket."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.aws.s3.Delete"

    bucket: str
    key: str
    bypassGovernanceRetention: bool | str | None = None
    mfa: str | None = None
    requestPayer: str | None = None

    def run(self, ctx) -> dict[str, Any]:
        bucket = self.required(ctx, self.bucket, "bucket")
        key = self.required(ctx, self.key, "key")
        args: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if self.bypassGovernanceRetention is not None:
            args["BypassGovernanceRetention"] = ctx.render_bool(self.bypassGovernanceRetention,
                                                                "bypassGovernanceRetention")
        for prop, arg in (("mfa", "MFA"), ("requestPayer", "RequestPayer")):
            value = self.optional(ctx, getattr(self, prop), prop)
            if value is not None:
                args[arg] = value
        client = self.s3(ctx)
        with aws_errors(ctx, f"S3 DeleteObject of s3://{bucket}/{key}"):
            response = client.delete_object(**args)
        ctx.logger.info(f"deleted s3://{bucket}/{key}")
        return {"versionId": response.get("VersionId"), "deleteMarker": response.get("DeleteMarker"),
                "requestCharged": response.get("RequestCharged")}
