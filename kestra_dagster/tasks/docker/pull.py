"""``io.kestra.plugin.docker.cli.Pull``: pull an image into the daemon; outputs ``imageId`` and ``digest``."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.sdk.containers import pull_image
from kestra_dagster.sdk.docker import Credentials, docker_client, qualified, render_credentials, strip_scheme


class Pull(RunnableTask):
    """Pull ``image``; the credentials' registry is prefixed unless the image names one."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.docker.cli.Pull"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.docker.Pull",)
    kestra_family: ClassVar[str] = "docker"
    compute_kind: ClassVar[str | None] = "docker"

    image: str
    host: str | None = None
    config: dict[str, Any] | str | None = None
    credentials: Credentials | None = None

    def run(self, ctx) -> dict[str, Any]:
        creds = render_credentials(ctx, self.credentials)
        image = qualified(strip_scheme(ctx.render_str(self.image, "image")), creds)
        client = docker_client(ctx, self.host)
        try:
            image_id, digest = pull_image(ctx, client, image, creds)
        finally:
            client.close()
        ctx.logger.info(f"pulled {image}: image {image_id}, digest {digest}")
        return {"imageId": image_id, "digest": digest, "image": image}
