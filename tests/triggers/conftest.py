"""One real deployment for the daemon-based trigger tests: moto's S3 server, a bare Git repository,
a Dagster daemon and the webhook intake, all on loopback, all stopped at the end."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kestra_dagster.testing import LocalDeployment

S3_AUTH = """    accessKeyId: test
    secretKeyId: test
    region: us-east-1
    endpointOverride: {endpoint}
    bucket: inbox
    interval: PT1S"""

FLOWS = {
    "upstream_ok.yaml": """
id: upstream-ok
namespace: demo.chain
tasks:
  - id: ret
    type: io.kestra.plugin.core.debug.Return
    format: "hello {{ trigger.body.name }}"
outputs:
  - id: greeting
    type: STRING
    value: "{{ outputs.ret.value }}"
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: up-key}
""",
    "upstream_fail.yaml": """
id: upstream-fail
namespace: demo.chain
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: "it broke"
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: up-key}
""",
    "on_success.yaml": """
id: on-success
namespace: demo.chain
inputs:
  - {id: greeting, type: STRING}
tasks:
  - id: seen
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.greeting }}|{{ trigger.flowId }}|{{ trigger.state }}|{{ trigger.executionId }}"
triggers:
  - id: after-ok
    type: io.kestra.plugin.core.trigger.Flow
    states: [SUCCESS]
    inputs:
      greeting: "{{ trigger.outputs.greeting }}"
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: demo.chain
        flowId: upstream-ok
""",
    "on_failure.yaml": """
id: on-failure
namespace: demo.chain
tasks:
  - id: seen
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.flowId }} {{ trigger.state }}"
triggers:
  - id: after-failure
    type: io.kestra.plugin.core.trigger.Flow
    states: [FAILED]
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionNamespace
        namespace: demo.chain
""",
    "wait_outputs.yaml": """
id: wait-outputs
namespace: demo.wait
tasks:
  - id: ret
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.parameters.validationToken[0] ?? trigger.body.name }}"
outputs:
  - {id: response, type: STRING, value: "{{ outputs.ret.value }}"}
triggers:
  - {id: json, type: io.kestra.plugin.core.trigger.Webhook, key: out-key, wait: true, returnOutputs: true,
     responseCode: "{{ outputs.ret.value == 'teapot' ? 418 : 201 }}"}
  - {id: text, type: io.kestra.plugin.core.trigger.Webhook, key: text-key, wait: true, returnOutputs: true,
     responseContentType: text/plain}
""",
    "wait_fail.yaml": """
id: wait-fail
namespace: demo.wait
tasks:
  - {id: boom, type: io.kestra.plugin.core.execution.Fail, errorMessage: "it broke"}
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: fail-key, wait: true}
""",
    "s3_move.yaml": """
id: s3-move
namespace: demo.s3
tasks:
  - id: content
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(trigger.objects[0].uri) }}"
triggers:
  - id: watch
    type: io.kestra.plugin.aws.s3.Trigger
{auth}
    prefix: move/
    regexp: "move/.*\\\\.csv"
    action: MOVE
    moveTo:
      key: archive/
""",
    "s3_delete.yaml": """
id: s3-delete
namespace: demo.s3
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "{{ trigger.objects | length }} objects"}
triggers:
  - id: watch
    type: io.kestra.plugin.aws.s3.Trigger
{auth}
    prefix: delete/
    action: DELETE
""",
    "s3_none.yaml": """
id: s3-none
namespace: demo.s3
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "{{ trigger.objects | length }} objects"}
triggers:
  - id: watch
    type: io.kestra.plugin.aws.s3.Trigger
{auth}
    prefix: none/
    action: NONE
""",
    "toggle_target.yaml": """
id: target
namespace: demo.toggle
tasks:
  - {id: log, type: io.kestra.plugin.core.log.Log, message: "new year"}
triggers:
  - {id: yearly, type: io.kestra.plugin.core.trigger.Schedule, cron: "0 0 1 1 *"}
""",
    "toggler.yaml": """
id: toggler
namespace: demo.toggle
tasks:
  - id: toggle
    type: io.kestra.plugin.core.trigger.Toggle
    namespace: demo.toggle
    flowId: target
    trigger: yearly
    enabled: "{{ trigger.body.enabled }}"
triggers:
  - {id: hook, type: io.kestra.plugin.core.trigger.Webhook, key: toggle-key}
""",
    "git_poll.yaml": """
id: git-poll
namespace: demo.git
tasks:
  - id: ref
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.kind }} {{ trigger.name }} {{ trigger.commit }}"
triggers:
  - id: tags
    type: io.kestra_dagster.plugin.git.Polling
    url: "{repo}"
    tags: ["v*"]
    interval: PT1S
""",
}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@e", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}).stdout


@pytest.fixture(scope="session")
def git_repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("git")
    bare, work = root / "repo.git", root / "work"
    git("init", "--bare", "-b", "main", str(bare), cwd=root)
    git("clone", str(bare), str(work), cwd=root)
    (work / "README").write_text("one\n")
    git("add", "README", cwd=work)
    git("commit", "-m", "one", cwd=work)
    git("tag", "-a", "v0.1", "-m", "old release", cwd=work)
    git("push", "origin", "main", "--tags", cwd=work)
    return bare, work


@pytest.fixture(scope="session")
def deployment(tmp_path_factory, s3_server, git_repo):
    root = tmp_path_factory.mktemp("deployment")
    flows = root / "flows"
    flows.mkdir()
    auth = S3_AUTH.format(endpoint=s3_server[0])
    for name, text in FLOWS.items():
        (flows / name).write_text(text.replace("{auth}", auth).replace("{repo}", str(git_repo[0])))
    with LocalDeployment(root, flows) as dep:
        dep.start_daemon()
        dep.url = dep.start_intake(extra_args=["--max-wait", "120"])  # wait: true calls, on a loaded machine
        yield dep
