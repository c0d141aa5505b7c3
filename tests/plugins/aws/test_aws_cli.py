"""aws.cli.AwsCLI: the real ``aws`` (PyPI awscli) against moto's S3 server via endpointOverride."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from kd_testing import moto_checks_credentials
from kestra_dagster.compiler.runner_cli import run_flow_file


def test_aws_cli_lists_and_copies_with_endpoint_override(tmp_path, s3_server, capfd):
    endpoint, s3 = s3_server
    before = set(Path(tempfile.gettempdir()).glob(".kestra-aws-*"))
    s3.put_object(Bucket="inbox", Key="cli/hello.txt", Body=b"hello from s3\n")
    flow = tmp_path / "cli.yaml"
    flow.write_text(f"""
id: aws_cli
namespace: company.team
tasks:
  - id: cli
    type: io.kestra.plugin.aws.cli.AwsCLI
    taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
    endpointOverride: "{endpoint}"
    region: us-east-1
    accessKeyId: test
    secretKeyId: cli-secret-never-logged
    outputFiles: [listing.json]
    commands:
      - aws s3api list-objects-v2 --bucket inbox --prefix cli/ > listing.json
      - aws s3 cp s3://inbox/cli/hello.txt hello.txt --only-show-errors
      - echo "::{{\\"outputs\\":{{\\"body\\":\\"$(cat hello.txt)\\",\\"output\\":\\"$AWS_DEFAULT_OUTPUT\\"}}}}::"
      - aws s3 rm s3://inbox/cli/hello.txt --only-show-errors
""")
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS", result
    out = result["outputs"]["cli"]
    assert out["exitCode"] == 0
    assert out["vars"] == {"body": "hello from s3", "output": "json"}
    assert "listing.json" in out["outputFiles"]
    assert "Contents" not in s3.list_objects_v2(Bucket="inbox", Prefix="cli/")
    logs = "".join(capfd.readouterr())
    assert "cli-secret-never-logged" not in logs
    assert set(Path(tempfile.gettempdir()).glob(".kestra-aws-*")) == before  # the CLI config is gone


def test_aws_cli_wrong_credentials_fail_with_the_cli_message(tmp_path, s3_server, capfd):
    endpoint, _ = s3_server
    flow = tmp_path / "cli_bad.yaml"
    flow.write_text(f"""
id: aws_cli_bad
namespace: company.team
tasks:
  - id: cli
    type: io.kestra.plugin.aws.cli.AwsCLI
    taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
    endpointOverride: "{endpoint}"
    region: us-east-1
    accessKeyId: AKIAWRONGWRONGWRONG1
    secretKeyId: wrong-cli-secret-value
    commands:
      - aws s3 ls s3://inbox
""")
    moto_checks_credentials(endpoint, True)
    try:
        result = run_flow_file(str(flow), {})
    finally:
        moto_checks_credentials(endpoint, False)
    assert result["state"] == "FAILED"
    logs = "".join(capfd.readouterr())
    assert "InvalidAccessKeyId" in logs and "exit code" in logs
    assert "wrong-cli-secret-value" not in logs and "wrong-cli-secret-value" not in json.dumps(result)


def test_aws_cli_assumes_sts_role(tmp_path, s3_server):
    endpoint, _ = s3_server
    flow = tmp_path / "cli_sts.yaml"
    flow.write_text(f"""
id: aws_cli_sts
namespace: company.team
tasks:
  - id: cli
    type: io.kestra.plugin.aws.cli.AwsCLI
    taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
    endpointOverride: "{endpoint}"
    region: us-east-1
    accessKeyId: test
    secretKeyId: test
    stsRoleArn: arn:aws:iam::123456789012:role/deployer
    stsRoleSessionName: kestra-test
    commands:
      - echo "::{{\\"outputs\\":{{\\"arn\\":\\"$(aws sts get-caller-identity --query Arn --output text)\\"}}}}::"
""")
    home_cache = Path.home() / ".aws" / "cli" / "cache"
    cached = set(home_cache.glob("*")) if home_cache.is_dir() else set()
    result = run_flow_file(str(flow), {})
    assert result["state"] == "SUCCESS", result
    assert result["outputs"]["cli"]["vars"]["arn"] == "arn:aws:sts::123456789012:assumed-role/deployer/kestra-test"
    # the assumed-role keys are not cached in the machine's home (another flow would reuse them)
    assert (set(home_cache.glob("*")) if home_cache.is_dir() else set()) == cached
