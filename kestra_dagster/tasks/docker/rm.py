"""``io.kestra.plugin.docker.cli.Rm``: remove containers and images."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.sdk.docker import docker_client
from kestra_dagster.sdk.values import as_list


class Rm(RunnableTask):
    """Remove ``containerIds`` (``removeVolumes``, ``force``) and ``imageIds``; missing ones are logged."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.docker.cli.Rm"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.docker.Rm",)
    kestra_family: ClassVar[str] = "docker"
    compute_kind: ClassVar[str | None] = "docker"

    containerIds: list[str] | str | None = None
    imageIds: list[str] | str | None = None
    removeVolumes: bool | str = False
    force: bool | str = False
    host: str | None = None

    def run(self, ctx) -> dict[str, Any]:
        import docker.errors

        containers = as_list(ctx.render(self.containerIds, "containerIds"), "containerIds")
        images = as_list(ctx.render(self.imageIds, "imageIds"), "imageIds")
        force = ctx.render_bool(self.force, "force")
        volumes = ctx.render_bool(self.removeVolumes, "removeVolumes")
        removed: dict[str, list[str]] = {"containers": [], "images": []}
        client = docker_client(ctx, self.host)
        try:
            for cid in containers:
                try:
                    client.api.remove_container(cid, v=volumes, force=force)
                    removed["containers"].append(cid)
                    ctx.logger.info(f"removed container {cid}")
                except docker.errors.NotFound:
                    ctx.logger.warning(f"container {cid} does not exist")
                except docker.errors.APIError as exc:
                    raise TaskFailed(f"cannot remove container {cid}: {exc.explanation or exc}") from None
            for iid in images:
                try:
                    client.api.remove_image(iid, force=force)
                    removed["images"].append(iid)
                    ctx.logger.info(f"removed image {iid}")
                except docker.errors.ImageNotFound:
                    ctx.logger.warning(f"image {iid} does not exist")
                except docker.errors.APIError as exc:
                    raise TaskFailed(f"cannot remove image {iid}: {exc.explanation or exc}") from None
        finally:
            client.close()
        return {"removedContainers": removed["containers"], "removedImages": removed["images"]}
