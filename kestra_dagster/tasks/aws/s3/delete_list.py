"""``io.kestra.plugin.aws.s3.DeleteList``: delete every object a listing matches; outputs ``count``
and ``size`` (bytes); ``errorOnEmpty`` fails when nothing matched. ``concurrent`` deletes that many
at once (threads)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.aws._connection import aws_errors
from kestra_dagster.tasks.aws.s3._common import S3ListMixin


class DeleteList(S3ListMixin):
    """Delete every object of a bucket that matches prefix/regexp; output count and size."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.aws.s3.DeleteList"

    concurrent: int | str | None = None
    errorOnEmpty: bool | str = False

    def run(self, ctx) -> dict[str, Any]:
        bucket = self.required(ctx, self.bucket, "bucket")
        client = self.s3(ctx)
        objects = self.list_objects(ctx, client)

        def delete(obj: dict[str, Any]) -> int:
            ctx.check_cancelled()
            ctx.logger.debug(f"Deleting '{obj['key']}'")
            with aws_errors(ctx, f"S3 DeleteObject of s3://{bucket}/{obj['key']}"):
                client.delete_object(Bucket=bucket, Key=obj["key"])
            return obj["size"] or 0

        workers = self.integer(ctx, self.concurrent, "concurrent", 1) if self.concurrent is not None else 1
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                sizes = list(pool.map(delete, objects))
        else:
            sizes = [delete(o) for o in objects]
        if not sizes and ctx.render_bool(self.errorOnEmpty, "errorOnEmpty"):
            raise TaskFailed(f"no object to delete in bucket {bucket!r} with regexp="
                             f"{ctx.render_str(self.regexp, 'regexp') if self.regexp else None!r}, "
                             f"prefix={ctx.render_str(self.prefix, 'prefix') if self.prefix else None!r} "
                             "(errorOnEmpty is true)")
        ctx.logger.info(f"Deleted {len(sizes)} keys for {sum(sizes)} bytes")
        return {"count": len(sizes), "size": sum(sizes)}
