"""Whole flows using the plugin families, run through the compiler and Dagster (in process)."""

from __future__ import annotations

import base64
from pathlib import Path


from kd_testing import unavailable

from kestra_dagster.compiler.runner_cli import run_flow_file
from .test_notifications import TOKEN_PATH, assert_no_secret

SHARED = Path(__file__).resolve().parents[3] / "shared"


def test_corpus_working_directory_flow_with_local_files():
    flow = SHARED / "corpus" / "kestra-tests" / "valids" / "working-directory.yaml"
    if not flow.is_file():
        unavailable("the Kestra test corpus is not beside the repository")
    result = run_flow_file(str(flow), {"failed": "false"})
    assert result["state"] == "SUCCESS", result
    uri = result["outputs"]["second"]["uris"]["out/stay.txt"]
    assert result["outputs"]["2_end"]["value"] == uri


def test_storage_tasks_and_slack_webhook_from_secret(tmp_path, receiver, monkeypatch, capfd):
    url = receiver.url + TOKEN_PATH
    monkeypatch.setenv("SECRET_SLACK_WEBHOOK", base64.b64encode(url.encode()).decode())
    flow = tmp_path / "notify.yaml"
    flow.write_text("""
id: notify
namespace: company.team
tasks:
  - id: a
    type: io.kestra.plugin.core.storage.Write
    content: "alpha\\n"
  - id: b
    type: io.kestra.plugin.core.storage.Write
    content: "beta\\n"
  - id: joined
    type: io.kestra.plugin.core.storage.Concat
    files:
      - "{{ outputs.a.uri }}"
      - "{{ outputs.b.uri }}"
  - id: size
    type: io.kestra.plugin.core.storage.Size
    uri: "{{ outputs.joined.uri }}"
  - id: slack
    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
    url: "{{ secret('SLACK_WEBHOOK') }}"
    payload: |
      {"text": "{{ flow.id }} wrote {{ outputs.size.size }} bytes"}
""")
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS", result
    assert result["outputs"]["size"]["size"] == 11
    assert receiver.requests[0].json() == {"text": "notify wrote 11 bytes"}
    out, err = capfd.readouterr()
    assert_no_secret(out + err)


def test_failing_webhook_fails_the_flow_without_leaking_the_url(tmp_path, receiver, monkeypatch, capfd):
    url = receiver.url + TOKEN_PATH
    monkeypatch.setenv("SECRET_HOOK", base64.b64encode(url.encode()).decode())
    receiver.answer((403, {}, "invalid_token"))
    flow = tmp_path / "fail.yaml"
    flow.write_text("""
id: failing
namespace: company.team
tasks:
  - id: teams
    type: io.kestra.plugin.notifications.teams.TeamsIncomingWebhook
    url: "{{ secret('HOOK') }}"
    payload: '{"text": "hi"}'
""")
    result = run_flow_file(str(flow), {})
    assert result["state"] == "FAILED"
    out, err = capfd.readouterr()
    assert "403" in out + err
    assert_no_secret(out + err)
