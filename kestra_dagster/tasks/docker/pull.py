"""``io.kestra.plugin.docker.cli.Pull``: pull an image into the daemon; outputs ``imageId`` and ``digest``."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed, TaskKilled
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.sdk.docker import (
    Credentials,
    auth_config,
    docker_client,
    qualified,
    render_credentials,
    split_tag,
    strip_scheme,
)


def pull_image(ctx, client, image: str, creds: dict) -> tuple[str, str | None]:
    """Pull ``image`` (tag or digest reference); → (image id, registry digest)."""
    if "@" in image:
        repo, ref = image.split("@", 1)
        tag = ref
    else:
        repo, tag = split_tag(image)
        tag = tag or "latest"
    ctx.logger.info(f"pulling {image}")
    last = None
    try:
        stream = client.api.pull(repo, tag=tag, stream=True, decode=True, auth_config=auth_config(creds))
        for event in stream:
            if ctx.cancel_event.is_set():
                stream.close()
                raise TaskKilled(f"task '{ctx.task_id}' was stopped while pulling {image}")
            if "error" in event:
                raise TaskFailed(ctx.mask(f"pull of {image} failed: {event['error']}"))
            status = event.get("status")
            if status and not event.get("progressDetail") and status != last:
                ctx.logger.info(ctx.mask(f"{event['id']}: {status}" if event.get("id") else status))
                last = status
    except (TaskFailed, TaskKilled):
        raise
    except Exception as exc:  # noqa: BLE001
        raise TaskFailed(ctx.mask(f"pull of {image} failed: {exc}")) from None
    found = client.images.get(image)
    digest = None
    for rd in found.attrs.get("RepoDigests") or []:
        if rd.split("@", 1)[0] == repo:
            digest = rd.split("@", 1)[1]
    return found.id, digest


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
