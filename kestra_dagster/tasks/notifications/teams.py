"""``io.kestra.plugin.microsoft365.teams.TeamsIncomingWebhook`` and ``TeamsExecution`` (earlier: ``io.kestra.plugin.notifications.teams.*``)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from kestra_dagster.tasks.notifications._execution import ExecutionNotification, facts, headline, outcome
from kestra_dagster.tasks.notifications._webhook import IncomingWebhookTask


class TeamsIncomingWebhook(IncomingWebhookTask):
    """Send a Microsoft Teams message (JSON ``payload``) through an incoming webhook ``url``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.microsoft365.teams.TeamsIncomingWebhook"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.notifications.teams.TeamsIncomingWebhook",)
    service: ClassVar[str] = "Microsoft Teams"


class TeamsExecution(TeamsIncomingWebhook, ExecutionNotification):
    """Send a Microsoft Teams card with an execution's namespace, flow, id, status and duration."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.microsoft365.teams.TeamsExecution"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.notifications.teams.TeamsExecution",)

    themeColor: str | None = "0076D7"
    activityTitle: str | None = None
    activitySubtitle: str | None = None

    def build_payload(self, ctx) -> str:
        info = self.execution_info(ctx)
        summary = f"{headline(info)}\n> {outcome(info)}"
        section: dict[str, Any] = {"facts": [{"name": k, "value": v} for k, v in facts(info)], "markdown": True}
        if self.activityTitle is not None:
            section["activityTitle"] = ctx.render_str(self.activityTitle, prop="activityTitle")
        if self.activitySubtitle is not None:
            section["activitySubtitle"] = ctx.render_str(self.activitySubtitle, prop="activitySubtitle")
        if info.get("customMessage"):
            section["text"] = info["customMessage"]
        card: dict[str, Any] = {
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "themeColor": ctx.render_str(self.themeColor, prop="themeColor") if self.themeColor else "0076D7",
            "summary": summary,
            "sections": [section],
        }
        if info["link"]:
            card["potentialAction"] = [{"@type": "OpenUri", "name": "Details",
                                        "targets": [{"os": "default", "uri": info["link"]}]}]
        return json.dumps(card)
