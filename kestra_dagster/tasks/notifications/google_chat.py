"""``io.kestra.plugin.googleworkspace.chat.GoogleChatIncomingWebhook`` and ``GoogleChatExecution`` (earlier: ``io.kestra.plugin.notifications.google.*``)."""

from __future__ import annotations

import json
from typing import ClassVar

from kestra_dagster.tasks.notifications._execution import ExecutionNotification, headline, outcome
from kestra_dagster.tasks.notifications._webhook import IncomingWebhookTask


class GoogleChatIncomingWebhook(IncomingWebhookTask):
    """Send a Google Chat message (JSON ``payload``) through a space webhook ``url``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.googleworkspace.chat.GoogleChatIncomingWebhook"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.notifications.google.GoogleChatIncomingWebhook",)
    service: ClassVar[str] = "Google Chat"


class GoogleChatExecution(GoogleChatIncomingWebhook, ExecutionNotification):
    """Send a Google Chat message with an execution's namespace, flow, id, status and duration."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.googleworkspace.chat.GoogleChatExecution"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.notifications.google.GoogleChatExecution",)

    text: str | None = None

    def build_payload(self, ctx) -> str:
        info = self.execution_info(ctx)
        title = f"*<{info['link']}|{headline(info)}>*" if info["link"] else f"*{headline(info)}*"
        lines = [
            f"Kestra notification: Namespace {info['namespace']}, Flow ID {info['flowId']}, "
            f"Execution ID {info['id']}, Execution Status {info['state']}.",
            f"{title}\n> {outcome(info)}",
        ]
        lines += [f"{k}: {v}" for k, v in (info.get("customFields") or {}).items()]
        if info.get("customMessage"):
            lines.append(info["customMessage"])
        if self.text is not None:
            lines = [ctx.render_str(self.text, prop="text")]
        return json.dumps({"text": "\n".join(lines)})
