"""``io.kestra.plugin.slack.notifications.SlackIncomingWebhook`` and ``SlackExecution`` (and their earlier names)."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.notifications._execution import ExecutionNotification, facts, headline, outcome
from kestra_dagster.tasks.notifications._webhook import IncomingWebhookTask

_OLD = "org.kestra.task.notifications.slack."
#: Kestra 1.x moved Slack out of plugin-notifications; its @Plugin aliases list the earlier names.
_NEW = "io.kestra.plugin.slack.notifications."
_V0 = "io.kestra.plugin.notifications.slack."
_V1 = "io.kestra.plugin.slack."


def message_text_payload(text: str) -> str:
    """Kestra's ``messageText``: a JSON object is sent as it is, other text as ``{"text": …}`` in mrkdwn."""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return json.dumps(parsed)
    text = re.sub(r"\*\*(.*?)\*\*", r"*\1*", text)  # **bold** -> *bold*
    text = re.sub(r"__(.*?)__", r"_\1_", text)  # __italic__ -> _italic_
    text = re.sub(r"\[(.*?)\]\((.*?)\)", r"<\2|\1>", text)  # [label](url) -> <url|label>
    return json.dumps({"text": text})


class SlackIncomingWebhook(IncomingWebhookTask):
    """Send a Slack message (JSON ``payload``) through an incoming webhook ``url``."""

    kestra_type: ClassVar[str] = _NEW + "SlackIncomingWebhook"
    kestra_aliases: ClassVar[tuple[str, ...]] = (_V0 + "SlackIncomingWebhook", _V1 + "SlackIncomingWebhook",
                                                 _OLD + "SlackIncomingWebhook")
    service: ClassVar[str] = "Slack"

    #: Kestra 1.x: plain text (Markdown turned into Slack mrkdwn) or a JSON object; ``payload`` wins.
    messageText: str | None = None

    def build_payload(self, ctx) -> str:
        if self.payload is None and self.messageText is not None:
            return message_text_payload(ctx.render_str(self.messageText, prop="messageText"))
        if self.payload is None:
            raise TaskFailed("give 'messageText' (a message) or 'payload' (a JSON object)")
        return super().build_payload(ctx)


class SlackExecution(SlackIncomingWebhook, ExecutionNotification):
    """Send a Slack message with an execution's namespace, flow, id, status and duration."""

    kestra_type: ClassVar[str] = _NEW + "SlackExecution"
    kestra_aliases: ClassVar[tuple[str, ...]] = (_V0 + "SlackExecution", _V1 + "SlackExecution", _OLD + "SlackExecution")

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
