"""``io.kestra.plugin.aws.ecr.GetAuthToken``: the password of an ECR registry login (12 hours).

ECR's ``GetAuthorizationToken`` returns base64 ``AWS:<password>``; like Kestra the task outputs
the password part as ``token``, a secret output (masked in every log line and output preview of
the run), for ``credentials: {registry: <account>.dkr.ecr.<region>.amazonaws.com, username: AWS,
password: "{{ outputs.<id>.token }}"}`` of docker Build/Push/Pull and the Docker task runner.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.aws._connection import AwsTask, aws_errors, import_boto3

#: Fail fast on an unreachable endpoint instead of botocore's default retries (about a minute).
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 30


class GetAuthToken(AwsTask):
    """Fetch an Amazon ECR authorization token; output its password part as ``token``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.aws.ecr.GetAuthToken"
    kestra_family: ClassVar[str] = "aws"
    compute_kind: ClassVar[str | None] = "aws"

    def run(self, ctx) -> dict[str, Any]:
        import_boto3(f"the {self.type} task")  # a clear error when the aws extra is not installed
        from botocore.config import Config

        config = Config(connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
                        retries={"max_attempts": 2, "mode": "standard"})
        with aws_errors(ctx, "ECR GetAuthorizationToken"):
            client = self.client(ctx, "ecr", config)
            ctx.logger.info(f"requesting an ECR authorization token from {client.meta.endpoint_url}")
            data = client.get_authorization_token().get("authorizationData") or []
        if not data or not data[0].get("authorizationToken"):
            raise TaskFailed("ECR GetAuthorizationToken returned no authorization data")
        try:
            decoded = base64.b64decode(data[0]["authorizationToken"]).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise TaskFailed("ECR returned an authorization token that is not base64 'user:password'") from None
        ctx.secret_values.add(data[0]["authorizationToken"])
        user, sep, password = decoded.partition(":")
        token = ctx.secret_output(password if sep and user else decoded)
        expires = data[0].get("expiresAt")
        ctx.logger.info(f"ECR authorization token for {data[0].get('proxyEndpoint')} received"
                        + (f", valid until {expires.isoformat()}" if expires else ""))
        return {"token": token}
