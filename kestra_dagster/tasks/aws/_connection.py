"""Kestra's ``AbstractConnection`` for AWS tasks: static keys, STS AssumeRole, endpoint override.

``client_kwargs(props)`` turns rendered properties into boto3 client arguments (also used by the
``aws.s3.Trigger`` poller); ``AwsTask.client(ctx, service)`` renders the task's properties,
assumes ``stsRoleArn`` when set and returns a boto3 client. Without keys boto3's usual chain
applies (environment, profile, instance role), as the AWS SDK does for Kestra.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from kestra_dagster.errors import TaskFailed
from kestra_dagster.model.common import Duration, parse_duration
from kestra_dagster.tasks.base import RunnableTask

#: Kestra's default (and AWS's minimum) STS session duration.
MIN_STS_SESSION_SECONDS = 900
CONNECTION_PROPS = ("region", "endpointOverride", "accessKeyId", "secretKeyId", "sessionToken", "stsRoleArn",
                    "stsRoleExternalId", "stsRoleSessionName", "stsEndpointOverride")


def client_kwargs(props: dict[str, Any]) -> dict[str, Any]:
    """boto3 ``client()`` keyword arguments from rendered connection properties."""
    kwargs: dict[str, Any] = {}
    if props.get("region"):
        kwargs["region_name"] = props["region"]
    if props.get("endpointOverride"):
        kwargs["endpoint_url"] = props["endpointOverride"]
    if props.get("accessKeyId"):
        kwargs["aws_access_key_id"] = props["accessKeyId"]
        kwargs["aws_secret_access_key"] = props.get("secretKeyId")
    if props.get("sessionToken"):
        kwargs["aws_session_token"] = props["sessionToken"]
    return kwargs


def import_boto3(what: str):
    try:
        import boto3
    except ImportError:
        raise TaskFailed(f"{what} needs boto3, which is not installed: pip install 'kestra-dagster[aws]'") from None
    return boto3


class AwsTask(RunnableTask):
    """Connection properties shared by the AWS tasks (no ``kestra_type``: not a task itself)."""

    region: str | None = None
    endpointOverride: str | None = None
    compatibilityMode: bool | str | None = None
    accessKeyId: str | None = None
    secretKeyId: str | None = None
    sessionToken: str | None = None
    stsRoleArn: str | None = None
    stsRoleExternalId: str | None = None
    stsRoleSessionName: str | None = None
    stsEndpointOverride: str | None = None
    stsRoleSessionDuration: Duration | None = None

    def connection(self, ctx) -> dict[str, Any]:
        """Rendered connection properties; the secret ones are registered for masking."""
        props = {name: ctx.render_str(getattr(self, name), name) for name in CONNECTION_PROPS
                 if getattr(self, name) is not None}
        for name in ("secretKeyId", "sessionToken"):
            if props.get(name):
                ctx.secret_values.add(props[name])
        if props.get("accessKeyId") and not props.get("secretKeyId"):
            raise TaskFailed("accessKeyId is set without secretKeyId: give both (or neither, to use the "
                             "environment's AWS credentials)")
        return props

    def client(self, ctx, service: str, config=None):
        """A boto3 client for ``service``, after STS AssumeRole when ``stsRoleArn`` is set."""
        boto3 = import_boto3(f"the {self.type} task")
        props = self.connection(ctx)
        if props.get("stsRoleArn"):
            props.update(self._assume_role(ctx, boto3, props, config))
        return boto3.client(service, config=config, **client_kwargs(props))

    def _assume_role(self, ctx, boto3, props: dict[str, Any], config) -> dict[str, Any]:
        sts_props = {**props, "endpointOverride": props.get("stsEndpointOverride")}
        sts = boto3.client("sts", config=config, **client_kwargs(sts_props))
        duration = MIN_STS_SESSION_SECONDS
        if self.stsRoleSessionDuration:
            duration = int(parse_duration(ctx.render_str(self.stsRoleSessionDuration, "stsRoleSessionDuration"))
                           .total_seconds())
        request = {"RoleArn": props["stsRoleArn"], "DurationSeconds": duration,
                   "RoleSessionName": props.get("stsRoleSessionName") or f"kestra-{ctx.execution_id}"[:64]}
        if props.get("stsRoleExternalId"):
            request["ExternalId"] = props["stsRoleExternalId"]
        ctx.logger.info(f"assuming role {props['stsRoleArn']}")
        with aws_errors(ctx, f"STS AssumeRole of {props['stsRoleArn']}"):
            creds = sts.assume_role(**request)["Credentials"]
        for key in ("SecretAccessKey", "SessionToken"):
            ctx.secret_values.add(creds[key])
        return {"accessKeyId": creds["AccessKeyId"], "secretKeyId": creds["SecretAccessKey"],
                "sessionToken": creds["SessionToken"]}


@contextmanager
def aws_errors(ctx, what: str) -> Iterator[None]:
    """Turn botocore errors into TaskFailed naming the call and the cause, secrets masked."""
    try:
        yield
    except TaskFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - only botocore's are translated
        message = _describe(exc)
        if message is None:
            raise
        raise TaskFailed(ctx.mask(f"{what} failed: {message}")) from None


def _describe(exc: Exception) -> str | None:
    from botocore import exceptions as bx

    if isinstance(exc, bx.NoCredentialsError):
        return "no AWS credentials: set accessKeyId and secretKeyId (or the environment's AWS credentials)"
    if isinstance(exc, bx.NoRegionError):
        return "no AWS region: set the 'region' property"
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return f"cannot reach the AWS endpoint: {exc}. Check endpointOverride/region and the network"
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"AWS refused it (HTTP {status}, {error.get('Code')}): {error.get('Message')}"
    if isinstance(exc, bx.BotoCoreError):
        return f"{type(exc).__name__}: {exc}"
    return None
