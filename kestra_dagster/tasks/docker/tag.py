"""``io.kestra.plugin.docker.cli.Tag``: give a local image (tag, image id or ``repo@sha256:``) a new tag."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.sdk.docker import docker_client, split_tag, strip_scheme


class Tag(RunnableTask):
    """Tag ``sourceImage`` as ``targetImage`` (default tag ``latest``); outputs the ``imageId``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.docker.cli.Tag"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.docker.Tag",)
    kestra_family: ClassVar[str] = "docker"
    compute_kind: ClassVar[str | None] = "docker"

    sourceImage: str
    targetImage: str
    host: str | None = None

    def run(self, ctx) -> dict[str, Any]:
        source = strip_scheme(ctx.render_str(self.sourceImage, "sourceImage"))
        target = strip_scheme(ctx.render_str(self.targetImage, "targetImage"))
        repo, tag = split_tag(target)
        client = docker_client(ctx, self.host)
        try:
            try:
                image = client.images.get(source)
            except Exception as exc:  # noqa: BLE001 - ImageNotFound / APIError
                raise TaskFailed(f"source image {source!r} not found in the daemon: {exc}") from None
            if not client.api.tag(image.id, repo, tag or "latest"):
                raise TaskFailed(f"the daemon refused to tag {source} as {repo}:{tag or 'latest'}")
        finally:
            client.close()
        ctx.logger.info(f"tagged {source} ({image.id}) as {repo}:{tag or 'latest'}")
        return {"imageId": image.id, "image": f"{repo}:{tag or 'latest'}"}
