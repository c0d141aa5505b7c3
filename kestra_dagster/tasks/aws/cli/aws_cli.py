"""``io.kestra.plugin.aws.cli.AwsCLI``: run ``aws …`` commands with the task's AWS connection.

Kestra runs them in the ``amazon/aws-cli`` image; here they run with the script tasks' runner
(``taskRunner``, as the scripts family chooses it) and the ``aws`` of PyPI's ``awscli`` (next to
our Python) first on PATH. The connection becomes the CLI's environment: ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``
(``endpointOverride``) and ``AWS_DEFAULT_OUTPUT`` (``outputFormat``); ``stsRoleArn`` & co. go into a
private CLI config file (``AWS_CONFIG_FILE``) made for this run and deleted after it, so neither
the machine's ``~/.aws`` is read nor written. With a role, the keys are that profile's
``source_profile`` (a 0600 credentials file beside it) rather than environment variables, which
the CLI would use instead of assuming the role, and ``HOME`` is that private folder (the CLI
caches assumed-role keys under ``~/.aws/cli/cache``: they must not outlive the run). As in Kestra, stderr output ends the task WARNING
(``warningOnStdErr`` defaults to true). Outputs: the script outputs (``exitCode``, ``vars``,
``outputFiles``…).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Literal

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks._run_state import run_state
from kestra_dagster.model.common import parse_duration
from kestra_dagster.tasks.aws._connection import AwsTask
from kestra_dagster.tasks.scripts._docker_runner import wants_docker
from kestra_dagster.tasks.scripts._exec import HIDDEN_PREFIX
from kestra_dagster.tasks.scripts.shell_commands import ShellCommands

_CREDENTIAL_SOURCES = {"ENVIRONMENT": "Environment", "EC2_INSTANCE_METADATA": "Ec2InstanceMetadata",
                       "ECS_CONTAINER": "EcsContainer"}


def aws_binary_dir() -> str:
    """The folder holding the ``aws`` command: beside our Python (PyPI awscli), else PATH."""
    beside = Path(sys.executable).parent / "aws"
    if beside.is_file():
        return str(beside.parent)
    found = shutil.which("aws")
    if found:
        return str(Path(found).parent)
    raise TaskFailed("the aws command is not installed: pip install awscli (or put aws on PATH)")


class AwsCLI(ShellCommands, AwsTask):
    """Run AWS CLI commands (``aws s3 ls``, ``aws sts get-caller-identity``…) with the task's connection."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.aws.cli.AwsCLI"
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    kestra_family: ClassVar[str] = "aws"
    compute_kind: ClassVar[str | None] = "aws"

    containerImage: str | None = "amazon/aws-cli"
    outputFormat: Literal["JSON", "TEXT", "TABLE", "YAML"] | str = "JSON"
    stsCredentialSource: Literal["ENVIRONMENT", "EC2_INSTANCE_METADATA", "ECS_CONTAINER"] | str | None = None
    warningOnStdErr: bool | str = True

    def run(self, ctx) -> dict[str, Any]:
        state = run_state(ctx)
        try:
            return super().run(ctx)
        finally:
            if state.get("config_dir"):
                shutil.rmtree(state["config_dir"], ignore_errors=True)

    def prepare(self, ctx, workdir: Path, env: dict[str, str]) -> None:
        super().prepare(ctx, workdir, env)
        props = self.connection(ctx)
        for key in [k for k in env if k.startswith("AWS_")]:
            env.pop(key)  # only this task's connection, never the worker's own AWS settings
        user_env = ctx.render(self.env, "env") if self.env else {}
        # keys in the environment would win over the role: with stsRoleArn they go into a source
        # profile of the private credentials file instead (unless stsCredentialSource says otherwise)
        role_from_file = bool(props.get("stsRoleArn") and props.get("accessKeyId") and not self.stsCredentialSource)
        for prop, var in (("accessKeyId", "AWS_ACCESS_KEY_ID"), ("secretKeyId", "AWS_SECRET_ACCESS_KEY"),
                          ("sessionToken", "AWS_SESSION_TOKEN"), ("region", "AWS_DEFAULT_REGION"),
                          ("endpointOverride", "AWS_ENDPOINT_URL")):
            if props.get(prop) and not (role_from_file and var.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION"))):
                env[var] = props[prop]
        output = str(ctx.render_str(self.outputFormat, "outputFormat")).lower()
        if output not in ("json", "text", "table", "yaml"):
            raise TaskFailed(f"property 'outputFormat' must be JSON, TEXT, TABLE or YAML, got {output!r}")
        env["AWS_DEFAULT_OUTPUT"] = output
        # in the working directory: a Docker task runner mounts it at the same path
        config_dir = run_state(ctx)["config_dir"] = Path(tempfile.mkdtemp(prefix=f"{HIDDEN_PREFIX}aws-", dir=workdir))
        os.chmod(config_dir, 0o700)
        config = config_dir / "config"
        config.write_text(self._profile(ctx, props))
        if role_from_file:
            lines = ["[kestra-source]", f"aws_access_key_id = {props['accessKeyId']}",
                     f"aws_secret_access_key = {props['secretKeyId']}"]
            if props.get("sessionToken"):
                lines.append(f"aws_session_token = {props['sessionToken']}")
            credentials = config_dir / "credentials"
            credentials.touch(0o600)
            credentials.write_text("\n".join(lines) + "\n")
        if props.get("stsRoleArn"):
            # the CLI caches assumed-role keys in ~/.aws/cli/cache: another flow would reuse them
            # and they would outlive the run, so this run's home is the private folder
            env["HOME"] = str(config_dir)
        env["AWS_CONFIG_FILE"] = str(config)
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(config_dir / "credentials")
        env["AWS_PAGER"] = ""
        env.update({str(k): str(v) for k, v in (user_env or {}).items()})  # the task's env wins, as in Kestra
        if not wants_docker(self, ctx):  # a container has its own aws (and PATH)
            env["PATH"] = aws_binary_dir() + os.pathsep + env.get("PATH", os.defpath)

    def _profile(self, ctx, props: dict[str, Any]) -> str:
        lines = ["[default]"]
        if props.get("stsRoleArn"):
            lines.append(f"role_arn = {props['stsRoleArn']}")
        if props.get("stsRoleSessionName"):
            lines.append(f"role_session_name = {props['stsRoleSessionName']}")
        if props.get("stsRoleExternalId"):
            lines.append(f"external_id = {props['stsRoleExternalId']}")
        if self.stsRoleSessionDuration:
            seconds = int(parse_duration(ctx.render_str(self.stsRoleSessionDuration, "stsRoleSessionDuration"))
                          .total_seconds())
            lines.append(f"duration_seconds = {seconds}")
        if self.stsCredentialSource:
            source = str(ctx.render_str(self.stsCredentialSource, "stsCredentialSource")).upper()
            if source not in _CREDENTIAL_SOURCES:
                raise TaskFailed(f"property 'stsCredentialSource' must be one of {', '.join(_CREDENTIAL_SOURCES)}")
            lines.append(f"credential_source = {_CREDENTIAL_SOURCES[source]}")
        elif props.get("stsRoleArn") and props.get("accessKeyId"):
            lines.append("source_profile = kestra-source")
        return "\n".join(lines) + "\n"
