"""``io.kestra.plugin.discord.DiscordIncomingWebhook`` and ``DiscordExecution`` (earlier: ``io.kestra.plugin.notifications.discord.*``)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import KestraModel
from kestra_dagster.tasks.notifications._execution import ExecutionNotification, headline, outcome
from kestra_dagster.tasks.notifications._webhook import IncomingWebhookTask


class Embed(KestraModel):
    title: str | None = None
    websiteUrl: str | None = None
    description: str | None = None
    thumbnail: str | None = None
    authorName: str | None = None
    color: list[int] | None = None
    footer: str | None = None

    def render(self, ctx, avatar_url: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        r = lambda v, p: ctx.render_str(v, prop=f"embedList.{p}")  # noqa: E731
        if self.title is not None:
            out["title"] = r(self.title, "title")
        if self.description is not None:
            out["description"] = r(self.description, "description")
        if self.websiteUrl is not None:
            out["url"] = r(self.websiteUrl, "websiteUrl")
        if self.thumbnail is not None:
            out["thumbnail"] = {"url": r(self.thumbnail, "thumbnail")}
        if self.authorName is not None:
            author = {"name": r(self.authorName, "authorName")}
            if self.websiteUrl:
                author["url"] = r(self.websiteUrl, "websiteUrl")
            if avatar_url:
                author["icon_url"] = avatar_url
            out["author"] = author
        if self.color is not None:
            if len(self.color) < 3:
                raise TaskFailed("embedList.color must be [red, green, blue]")
            red, green, blue = self.color[:3]
            out["color"] = (red << 16) + (green << 8) + blue
        if self.footer is not None:
            out["footer"] = {"text": r(self.footer, "footer")}
        return out


class DiscordIncomingWebhook(IncomingWebhookTask):
    """Send a Discord message (JSON ``payload``) through a channel webhook ``url``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.discord.DiscordIncomingWebhook"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.notifications.discord.DiscordIncomingWebhook",)
    service: ClassVar[str] = "Discord"


class DiscordExecution(DiscordIncomingWebhook, ExecutionNotification):
    """Send a Discord message with an execution's namespace, flow, id, status and duration."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.discord.DiscordExecution"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.notifications.discord.DiscordExecution",)

    username: str | None = None
    avatarUrl: str | None = None
    content: str | None = None
    embedList: list[Embed] | None = None

    def build_payload(self, ctx) -> str:
        if self.payload is not None and str(self.payload).strip():
            return super().build_payload(ctx)
        info = self.execution_info(ctx)
        description = "\n".join([
            f"Namespace: {info['namespace']}", f"Flow ID: {info['flowId']}",
            f"Execution ID: {info['id']}", f"Execution Status: {info['state']}",
            *[f"{k}: {v}" for k, v in (info.get("customFields") or {}).items()],
        ])
        summary: dict[str, Any] = {"title": headline(info), "description": description, "footer": {"text": outcome(info)}}
        if info["link"]:
            summary["url"] = info["link"]
        avatar = ctx.render_str(self.avatarUrl, prop="avatarUrl") if self.avatarUrl else None
        embeds = [e.render(ctx, avatar) for e in self.embedList or []]
        if embeds:
            embeds[0] = {**summary, **embeds[0]}
        else:
            embeds = [summary]
        payload: dict[str, Any] = {"tts": False, "embeds": embeds}
        if self.username is not None:
            payload["username"] = ctx.render_str(self.username, prop="username")
        if avatar:
            payload["avatar_url"] = avatar
        content = ctx.render_str(self.content, prop="content") if self.content is not None else None
        if info.get("customMessage"):
            content = f"{content}\n{info['customMessage']}" if content else info["customMessage"]
        if content:
            payload["content"] = content
        return json.dumps(payload)
