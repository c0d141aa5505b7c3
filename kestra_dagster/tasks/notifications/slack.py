"""``io.kestra.plugin.notifications.slack.SlackIncomingWebhook`` and ``SlackExecution``."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from kestra_dagster.tasks.notifications._execution import ExecutionNotification, facts, headline, outcome
from kestra_dagster.tasks.notifications._webhook import IncomingWebhookTask

_OLD = "org.kestra.task.notifications.slack."


class SlackIncomingWebhook(IncomingWebhookTask):
    """Send a Slack message (JSON ``payload``) through an incoming webhook ``url``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.notifications.slack.SlackIncomingWebhook"
    kestra_aliases: ClassVar[tuple[str, ...]] = (_OLD + "SlackIncomingWebhook",)
    service: ClassVar[str] = "Slack"


class SlackExecution(SlackIncomingWebhook, ExecutionNotification):
    """Send a Slack message with an execution's namespace, flow, id, status and duration."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.notifications.slack.SlackExecution"
    kestra_aliases: ClassVar[tuple[str, ...]] = (_OLD + "SlackExecution",)

    channel: str | None = None
    username: str | None = None
    iconUrl: str | None = None
    iconEmoji: str | None = None

    def build_payload(self, ctx) -> str:
        info = self.execution_info(ctx)
        title = f"*<{info['link']}|{headline(info)}>*" if info["link"] else f"*{headline(info)}*"
        text = f"{title}\n> {outcome(info)}"
        blocks: list[dict[str, Any]] = []
        if info.get("customMessage"):
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": info["customMessage"]}})
        section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
        if info["link"]:
            section["accessory"] = {"type": "button", "text": {"type": "plain_text", "text": "Details"}, "url": info["link"]}
        blocks.append(section)
        state = info["state"]
        color = "good" if state == "SUCCESS" else "warning" if state == "WARNING" else "danger"
        payload: dict[str, Any] = {
            "text": text,
            "blocks": blocks,
            "attachments": [{"color": color, "fields": [{"title": k, "value": v, "short": True} for k, v in facts(info)]}],
        }
        for prop, key in (("channel", "channel"), ("username", "username"), ("iconUrl", "icon_url"), ("iconEmoji", "icon_emoji")):
            value = getattr(self, prop)
            if value is not None:
                payload[key] = ctx.render_str(value, prop=prop)
        return json.dumps(payload)
