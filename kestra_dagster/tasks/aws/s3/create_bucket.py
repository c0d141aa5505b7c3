"""``io.kestra.plugin.aws.s3.CreateBucket``: create a bucket (in ``region``: outside us-east-1 S3
needs it as the location constraint); outputs ``bucket`` and ``region`` (S3's Location answer)."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.tasks.aws._connection import aws_errors
from kestra_dagster.tasks.aws.s3._common import S3Task


class CreateBucket(S3Task):
    """Create an S3 bucket (ACL, grants, object lock)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.aws.s3.CreateBucket"

    bucket: str
    grantFullControl: str | None = None
    grantRead: str | None = None
    grantReadACP: str | None = None
    grantWrite: str | None = None
    grantWriteACP: str | None = None
    acl: str | None = None
    objectLockEnabledForBucket: bool | str | None = None

    def run(self, ctx) -> dict[str, Any]:
        bucket = self.required(ctx, self.bucket, "bucket")
        args: dict[str, Any] = {"Bucket": bucket}
        for prop, arg in (("grantFullControl", "GrantFullControl"), ("grantRead", "GrantRead"),
                          ("grantReadACP", "GrantReadACP"), ("grantWrite", "GrantWrite"),
                          ("grantWriteACP", "GrantWriteACP"), ("acl", "ACL")):
            value = self.optional(ctx, getattr(self, prop), prop)
            if value is not None:
                args[arg] = value
        if self.objectLockEnabledForBucket is not None:
            args["ObjectLockEnabledForBucket"] = ctx.render_bool(self.objectLockEnabledForBucket,
                                                                 "objectLockEnabledForBucket")
        region = self.optional(ctx, self.region, "region")
        if region and region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        client = self.s3(ctx)
        with aws_errors(ctx, f"S3 CreateBucket of {bucket!r}"):
            response = client.create_bucket(**args)
        ctx.logger.info(f"created bucket {bucket!r}")
        return {"bucket": bucket, "region": response.get("Location")}
