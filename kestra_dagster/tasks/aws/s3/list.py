"""``io.kestra.plugin.aws.s3.List``: the objects of a bucket (``prefix``, ``regexp``, ``filter``),
at most ``maxFiles`` (a warning says when more matched); output ``objects``."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.tasks.aws.s3._common import S3ListMixin


class List(S3ListMixin):
    """List the objects of an S3 bucket (prefix, delimiter, regexp, FILES/DIRECTORY filter)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.aws.s3.List"

    maxFiles: int | str = 25

    def run(self, ctx) -> dict[str, Any]:
        objects = self.list_objects(ctx, self.s3(ctx))
        max_files = self.integer(ctx, self.maxFiles, "maxFiles", 25)
        ctx.logger.debug(f"found {len(objects)} key(s) in bucket {ctx.render_str(self.bucket, 'bucket')!r}")
        if len(objects) > max_files:
            ctx.logger.warning(f"Listing returned {len(objects)} files but maxFiles is {max_files}: only the "
                               f"first {max_files} are returned; raise maxFiles to get more")
            objects = objects[:max_files]
        return {"objects": objects}
