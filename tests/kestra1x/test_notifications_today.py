"""Today's (Kestra 1.x) notification names, run end to end against real peers on loopback.

Each flow in ``flows/`` is written as Kestra's current plugin docs write it; the earlier names
stay accepted (aliases), which ``test_earlier_names_resolve_to_the_same_types`` checks.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from kestra_dagster.compiler.runner_cli import run_flow_file
from kestra_dagster.registry import get_registry

FLOWS = Path(__file__).parent / "flows"

#: today's name → the names Kestra lists as its @Plugin aliases (and older ones we accepted already).
RENAMES = {
    "io.kestra.plugin.slack.notifications.SlackIncomingWebhook": [
        "io.kestra.plugin.notifications.slack.SlackIncomingWebhook", "io.kestra.plugin.slack.SlackIncomingWebhook"],
    "io.kestra.plugin.slack.notifications.SlackExecution": [
        "io.kestra.plugin.notifications.slack.SlackExecution", "io.kestra.plugin.slack.SlackExecution"],
    "io.kestra.plugin.email.MailSend": ["io.kestra.plugin.notifications.mail.MailSend"],
    "io.kestra.plugin.email.MailExecution": ["io.kestra.plugin.notifications.mail.MailExecution"],
    "io.kestra.plugin.discord.DiscordIncomingWebhook": ["io.kestra.plugin.notifications.discord.DiscordIncomingWebhook"],
    "io.kestra.plugin.discord.DiscordExecution": ["io.kestra.plugin.notifications.discord.DiscordExecution"],
    "io.kestra.plugin.microsoft365.teams.TeamsIncomingWebhook": ["io.kestra.plugin.notifications.teams.TeamsIncomingWebhook"],
    "io.kestra.plugin.microsoft365.teams.TeamsExecution": ["io.kestra.plugin.notifications.teams.TeamsExecution"],
    "io.kestra.plugin.googleworkspace.chat.GoogleChatIncomingWebhook": [
        "io.kestra.plugin.notifications.google.GoogleChatIncomingWebhook"],
    "io.kestra.plugin.googleworkspace.chat.GoogleChatExecution": [
        "io.kestra.plugin.notifications.google.GoogleChatExecution"],
    "io.kestra.plugin.docker.cli.Compose": ["io.kestra.plugin.docker.Compose"],
    "io.kestra.plugin.core.execution.PurgeExecutions": ["io.kestra.plugin.core.storage.Purge",
                                                        "io.kestra.core.tasks.storages.Purge"],
}


@pytest.mark.parametrize("current", sorted(RENAMES))
def test_earlier_names_resolve_to_the_same_types(current):
    registry = get_registry()
    entry = registry.resolve(current)
    assert entry is not None and entry.type == current
    for old in RENAMES[current]:
        assert registry.resolve(old) is entry, old


def test_every_renamed_type_is_used_by_a_flow_here():
    text = "".join(p.read_text() for p in FLOWS.glob("*.yaml"))
    missing = [t for t in RENAMES if f"type: {t}\n" not in text]
    assert not missing


def _secret(monkeypatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"SECRET_{name}", base64.b64encode(value.encode()).decode())


def test_slack_today(receiver, monkeypatch):
    _secret(monkeypatch, "HOOK", receiver.url + "/services/T/B/x")
    result = run_flow_file(str(FLOWS / "notifications_slack.yaml"), {})
    assert result["state"] == "SUCCESS", result
    bodies = [r.json() for r in receiver.requests]
    assert bodies[0] == {"text": f"*notifications_slack* done, see <https://example.test/{result['runId']}|the run>"} \
        or bodies[0]["text"].startswith("*notifications_slack* done, see <https://example.test/")
    assert bodies[1] == {"text": "as JSON", "channel": "#ops"}
    assert bodies[2] == {"text": "payload wins", "n": 1}
    assert bodies[3]["channel"] == "#alerts" and "notifications_slack" in bodies[3]["text"]


def test_discord_teams_google_today(receiver, monkeypatch):
    _secret(monkeypatch, "HOOK", receiver.url + "/hook/secret")
    result = run_flow_file(str(FLOWS / "notifications_chat.yaml"), {})
    assert result["state"] == "SUCCESS", result
    bodies = [r.json() for r in receiver.requests]
    assert len(bodies) == 6
    assert bodies[0] == {"content": "discord notifications_chat"}
    assert bodies[1]["username"] == "kestra"
    assert bodies[2] == {"text": "teams notifications_chat"}
    assert bodies[3]["@type"] == "MessageCard"
    assert bodies[4] == {"text": "google notifications_chat"}
    assert "notifications_chat" in bodies[5]["text"]


def test_email_today(smtp_server, monkeypatch):
    _secret(monkeypatch, "SMTP_PASSWORD", "s3cret-pass")
    result = run_flow_file(str(FLOWS / "notifications_email.yaml"), {"port": str(smtp_server.port)})
    assert result["state"] == "SUCCESS", result
    assert len(smtp_server.messages) == 2
    first = smtp_server.messages[0][2]
    assert first["Subject"] == "notifications_email"
    assert "today's name" in first.get_body(("plain",)).get_content()
