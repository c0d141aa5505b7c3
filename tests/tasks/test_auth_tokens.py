"""Short-lived registry credentials against real peers on loopback: moto's ECR/STS server and an
OAuth token endpoint that verifies JWT signatures and client secrets (tests/token_peers.py)."""

from __future__ import annotations

import base64
import json

import pytest

from token_peers import MotoServer, TokenEndpoint, rsa_key, self_signed_pem, service_account_key

from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.aws.ecr_get_auth_token import GetAuthToken
from kestra_dagster.tasks.azure.oauth_access_token import OauthAccessToken as AzureToken
from kestra_dagster.tasks.gcp.oauth_access_token import CLOUD_PLATFORM, OauthAccessToken as GcpToken
from kestra_dagster.testing import free_port

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"


@pytest.fixture
def endpoint():
    with TokenEndpoint() as ep:
        yield ep


@pytest.fixture(scope="module")
def moto_endpoint():
    with MotoServer() as url:
        yield url


def assert_hidden(ctx, *values: str) -> None:
    """None of ``values`` in the task's log; each is masked by the context."""
    log = ctx.logger.text()
    for value in values:
        assert value not in log
        assert ctx.mask(f"x{value}x") == "x******x"


# ------------------------------------------------------------------------------------------ GCP
def test_gcp_token_from_signed_jwt(endpoint, make_ctx):
    key_json, key = service_account_key(f"{endpoint.url}/token")
    endpoint.accounts["builder@kd-test.iam.gserviceaccount.com"] = key.public_key()
    ctx = make_ctx("token", variables={"sa": key_json})
    out = GcpToken(id="token", type=GcpToken.kestra_type, serviceAccount="{{ sa }}").run(ctx)
    token = out["accessToken"]
    assert token["tokenValue"] == endpoint.token
    assert token["scopes"] == [CLOUD_PLATFORM]
    assert token["expirationTime"] and token["expirationTime"].endswith("+00:00")
    (path, form), = endpoint.requests
    assert path == "/token" and form["grant_type"].endswith("jwt-bearer")
    assert_hidden(ctx, endpoint.token, form["assertion"])
    assert "BEGIN PRIVATE KEY" not in ctx.logger.text()


def test_gcp_wrong_key_is_refused_without_leaking_it(endpoint, make_ctx):
    key_json, _ = service_account_key(f"{endpoint.url}/token")  # signed with a key the endpoint does not know
    endpoint.accounts["builder@kd-test.iam.gserviceaccount.com"] = rsa_key().public_key()
    ctx = make_ctx("token", variables={"sa": key_json})
    with pytest.raises(TaskFailed) as info:
        GcpToken(id="token", type=GcpToken.kestra_type, serviceAccount="{{ sa }}",
                 scopes=["https://www.googleapis.com/auth/devstorage.read_only"]).run(ctx)
    message = str(info.value)
    assert "HTTP 400" in message and "invalid_grant" in message and "Check the credentials" in message
    assert "PRIVATE KEY" not in message and "assertion" not in message


def test_gcp_unreachable_endpoint_and_bad_keys(make_ctx):
    key_json, _ = service_account_key(f"http://127.0.0.1:{free_port()}/token")
    with pytest.raises(TaskFailed, match="cannot reach the token endpoint http://127.0.0.1:"):
        GcpToken(id="token", type=GcpToken.kestra_type, serviceAccount=key_json).run(make_ctx())
    with pytest.raises(TaskFailed, match="is not valid JSON") as info:
        GcpToken(id="token", type=GcpToken.kestra_type, serviceAccount="not-json-s3cr3t").run(make_ctx())
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(TaskFailed, match="lacks private_key"):
        GcpToken(id="token", type=GcpToken.kestra_type, serviceAccount='{"client_email": "a@b"}').run(make_ctx())
    with pytest.raises(TaskFailed, match="only service_account keys"):
        GcpToken(id="token", type=GcpToken.kestra_type, serviceAccount='{"type": "authorized_user"}').run(make_ctx())


# ---------------------------------------------------------------------------------------- Azure
def test_azure_client_secret_and_wrong_secret(endpoint, make_ctx, monkeypatch):
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", endpoint.url)
    endpoint.clients[(TENANT, CLIENT)] = {"secret": "right-client-secret"}
    ctx = make_ctx("token", variables={"secret": "right-client-secret"})
    out = AzureToken(id="token", type=AzureToken.kestra_type, tenantId=TENANT, clientId=CLIENT,
                     clientSecret="{{ secret }}", scopes=["https://containerregistry.azure.net/.default"]).run(ctx)
    assert out["accessToken"]["tokenValue"] == endpoint.token
    assert out["accessToken"]["scopes"] == ["https://containerregistry.azure.net/.default"]
    (path, form), = endpoint.requests
    assert path == f"/{TENANT}/oauth2/v2.0/token" and form["scope"] == "https://containerregistry.azure.net/.default"
    assert_hidden(ctx, endpoint.token, "right-client-secret")

    bad = make_ctx("token", variables={"secret": "wrong-client-secret"})
    with pytest.raises(TaskFailed) as info:
        AzureToken(id="token", type=AzureToken.kestra_type, tenantId=TENANT, clientId=CLIENT,
                   clientSecret="{{ secret }}").run(bad)
    message = str(info.value)
    assert "HTTP 401" in message and "invalid_client" in message and "wrong-client-secret" not in message


def test_azure_client_certificate(endpoint, make_ctx, monkeypatch):
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", endpoint.url + "/")
    key = rsa_key()
    pem, der = self_signed_pem(key)
    endpoint.clients[(TENANT, CLIENT)] = {"cert_der": der, "key": key.public_key()}
    ctx = make_ctx("token", variables={"pem": pem})
    out = AzureToken(id="token", type="io.kestra.plugin.azure.oauth.OauthAccessToken", tenantId=TENANT,
                     clientId=CLIENT, pemCertificate="{{ pem }}").run(ctx)
    assert out["accessToken"]["tokenValue"] == endpoint.token
    assert out["accessToken"]["scopes"] == ["https://management.azure.com/.default"]
    assert "client_secret" not in endpoint.requests[0][1]
    assert_hidden(ctx, endpoint.token)

    other, _ = self_signed_pem(rsa_key())  # a certificate the endpoint does not know
    with pytest.raises(TaskFailed, match="HTTP 401.*invalid_client"):
        AzureToken(id="token", type=AzureToken.kestra_type, tenantId=TENANT, clientId=CLIENT,
                   pemCertificate=other).run(make_ctx())


def test_azure_needs_a_secret_or_certificate(make_ctx, monkeypatch):
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TaskFailed, match="set clientSecret or pemCertificate"):
        AzureToken(id="token", type=AzureToken.kestra_type, tenantId=TENANT, clientId=CLIENT).run(make_ctx())
    with pytest.raises(TaskFailed, match="cannot reach the token endpoint"):
        AzureToken(id="token", type=AzureToken.kestra_type, tenantId=TENANT, clientId=CLIENT,
                   clientSecret="x-secret-x").run(make_ctx())


# ------------------------------------------------------------------------------------------ AWS
def test_ecr_token_is_the_password_part(moto_endpoint, make_ctx):
    import boto3

    ctx = make_ctx("ecr", variables={"key": "AKIDEXAMPLE", "secret": "aws-secret-key-value"})
    out = GetAuthToken(id="ecr", type=GetAuthToken.kestra_type, region="eu-west-1", endpointOverride=moto_endpoint,
                       accessKeyId="{{ key }}", secretKeyId="{{ secret }}").run(ctx)
    direct = boto3.client("ecr", region_name="eu-west-1", endpoint_url=moto_endpoint, aws_access_key_id="a",
                          aws_secret_access_key="b").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(direct["authorizationToken"]).decode().partition(":")
    assert user == "AWS" and out == {"token": password}
    assert_hidden(ctx, out["token"], "aws-secret-key-value")
    assert "ECR authorization token for" in ctx.logger.text()


def test_ecr_through_sts_assume_role(moto_endpoint, make_ctx):
    ctx = make_ctx("ecr")
    out = GetAuthToken(id="ecr", type=GetAuthToken.kestra_type, region="us-east-1", endpointOverride=moto_endpoint,
                       accessKeyId="AKIDEXAMPLE", secretKeyId="base-secret", stsEndpointOverride=moto_endpoint,
                       stsRoleArn="arn:aws:iam::123456789012:role/ecr-pusher", stsRoleExternalId="ext-1",
                       stsRoleSessionDuration="PT20M").run(ctx)
    assert out["token"]
    assert "assuming role arn:aws:iam::123456789012:role/ecr-pusher" in ctx.logger.text()


def test_ecr_wrong_secret_is_refused_without_leaking_it(make_ctx):
    import boto3

    with MotoServer(own_process=True) as url:  # the auth countdown is per process: no other moto user spends it
        previous = MotoServer.enforce_auth(url, 3)  # create_user, put_user_policy, create_access_key
        try:
            iam = boto3.client("iam", region_name="us-east-1", endpoint_url=url, aws_access_key_id="a",
                               aws_secret_access_key="b")
            iam.create_user(UserName="pusher")
            iam.put_user_policy(UserName="pusher", PolicyName="ecr", PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}))
            key = iam.create_access_key(UserName="pusher")["AccessKey"]

            def task(secret: str) -> GetAuthToken:
                return GetAuthToken(id="ecr", type=GetAuthToken.kestra_type, region="us-east-1", endpointOverride=url,
                                    accessKeyId=key["AccessKeyId"], secretKeyId=secret)

            assert task(key["SecretAccessKey"]).run(make_ctx())["token"]
            with pytest.raises(TaskFailed) as info:
                task("wrong-secret-access-key").run(make_ctx())
        finally:
            MotoServer.enforce_auth(url, previous)
    message = str(info.value)
    assert "ECR GetAuthorizationToken failed: AWS refused it (HTTP 403" in message
    assert "wrong-secret-access-key" not in message and key["SecretAccessKey"] not in message


def test_ecr_unreachable_endpoint_and_half_credentials(make_ctx):
    with pytest.raises(TaskFailed, match="cannot reach the AWS endpoint") as info:
        GetAuthToken(id="ecr", type=GetAuthToken.kestra_type, region="eu-west-1",
                     endpointOverride=f"http://127.0.0.1:{free_port()}", accessKeyId="AKIDEXAMPLE",
                     secretKeyId="never-shown-secret").run(make_ctx())
    assert "never-shown-secret" not in str(info.value)
    with pytest.raises(TaskFailed, match="accessKeyId is set without secretKeyId"):
        GetAuthToken(id="ecr", type=GetAuthToken.kestra_type, region="eu-west-1", accessKeyId="AKID").run(make_ctx())
