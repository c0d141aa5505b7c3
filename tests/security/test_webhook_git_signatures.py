"""Attack: unsigned GitHub/GitLab deliveries accepted when the trigger's secret is missing or
renders empty (issue 12, #11). Now an empty secret refuses every delivery (401), and a Git
webhook without a secret is a validation error unless the flow says ``allowUnsigned: true``."""

from __future__ import annotations

import json

import pytest

from attack_helpers import GH_SECRET
from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import load_flow_file
from kestra_dagster.triggers.git_events import github_signature

PUSH = json.dumps({"ref": "refs/heads/main"}).encode()


def _post(stack, key: str, headers: dict):
    with stack.client() as c:
        return c.post(f"/api/v1/executions/webhook/sec.test/github/{key}", content=PUSH,
                      headers={"content-type": "application/json", **headers})


def test_empty_secret_refuses_unsigned_and_empty_key_signatures(stack):
    assert _post(stack, "gh-empty", {"X-GitHub-Event": "push"}).status_code == 401
    # a signature made with the empty key proves nothing either
    forged = {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature("", PUSH)}
    r = _post(stack, "gh-empty", forged)
    assert r.status_code == 401 and "signature" in r.json()["message"]


def test_signed_trigger_still_works_and_explicit_unsigned_is_allowed(stack):
    assert _post(stack, "gh-key", {"X-GitHub-Event": "push"}).status_code == 401
    good = {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature(GH_SECRET, PUSH)}
    assert _post(stack, "gh-key", good).status_code == 200
    assert _post(stack, "gl-open", {"X-Gitlab-Event": "Push Hook"}).status_code == 200


@pytest.mark.parametrize("extra, problem", [
    ("", "secret is required"),
    ('    secret: ""\n', "secret is empty"),
    ('    secret: "x"\n    allowUnsigned: true\n', "contradicts"),
])
def test_a_git_webhook_without_secret_is_a_validation_error(tmp_path, extra, problem):
    flow = tmp_path / "f.yaml"
    flow.write_text(f"""id: f
namespace: sec.test
tasks:
  - {{id: t, type: io.kestra.plugin.core.log.Log, message: hi}}
triggers:
  - id: gh
    type: io.kestra_dagster.plugin.git.GitHubWebhook
    key: k
{extra}""")
    with pytest.raises(FlowValidationError) as err:
        load_flow_file(flow)
    assert problem in str(err.value) and "allowUnsigned" in str(err.value)
