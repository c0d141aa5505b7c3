"""``io.kestra.plugin.docker.cli.Push``: push local tags; outputs the registry digest of each."""

from __future__ import annotations

from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.sdk.docker import (
    ASSET_KEY,
    Credentials,
    docker_client,
    image_events,
    push_tags,
    render_credentials,
    repo_digests,
    strip_scheme,
)
from kestra_dagster.sdk.values import as_list


class Push(RunnableTask):
    """Push one or more image tags; outputs ``digest`` (first tag), ``digests`` and ``repoDigests``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.docker.cli.Push"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.docker.Push",)
    kestra_family: ClassVar[str] = "docker"
    compute_kind: ClassVar[str | None] = "docker"

    tags: list[str] | str
    host: str | None = None
    config: dict[str, Any] | str | None = None
    credentials: Credentials | None = None

    def run(self, ctx) -> dict[str, Any]:
        tags = [strip_scheme(t) for t in as_list(ctx.render(self.tags, "tags"), "tags") if str(t).strip()]
        if not tags:
            raise TaskFailed("property 'tags' needs at least one tag")
        creds = render_credentials(ctx, self.credentials)
        client = docker_client(ctx, self.host)
        try:
            digests = push_tags(ctx, client, tags, creds)
        finally:
            client.close()
        return {
            "digest": next(iter(digests.values())),
            "digests": digests,
            "repoDigests": repo_digests(digests),
            ASSET_KEY: image_events(ctx, digests, kind="push"),
        }
