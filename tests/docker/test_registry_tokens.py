"""Short-lived tokens as registry credentials, end to end: a credentials task (ECR through moto's
server, GCP and Azure through a local OAuth endpoint) feeds ``credentials`` of Push, Pull and the
Docker task runner against an htpasswd registry whose password is that token; and the Docker task
runner's working directory under ``kestra.tasks.tmp-dir.path``."""

from __future__ import annotations

import base64
from contextlib import ExitStack

import pytest
import yaml
from dagster import DagsterInstance
from dagster_shared.serdes import serialize_value

import dockerinfra
from token_peers import MotoServer, TokenEndpoint, registry_token, rsa_key, self_signed_pem, service_account_key

from kestra_dagster.compiler.runner_cli import run_flow_file

pytestmark = pytest.mark.slow
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "66666666-7777-8888-9999-000000000000"
DOCKER_RUNNER = "io.kestra.plugin.scripts.runner.docker.Docker"


def run_log(run_id: str) -> str:
    with DagsterInstance.get() as instance:
        return "\n".join(serialize_value(entry) for entry in instance.all_logs(run_id))


def ecr_peer(stack, monkeypatch):
    """(token task, registry user name, the token the registry must accept, expression giving it)."""
    import boto3

    url = stack.enter_context(MotoServer())
    data = boto3.client("ecr", region_name="eu-west-1", endpoint_url=url, aws_access_key_id="a",
                        aws_secret_access_key="b").get_authorization_token()["authorizationData"][0]
    password = base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]
    monkeypatch.setenv("KESTRA_SECRET_AWS_SECRET", "aws-secret-value")
    task = {"id": "auth", "type": "io.kestra.plugin.aws.ecr.GetAuthToken", "region": "eu-west-1",
            "endpointOverride": url, "accessKeyId": "AKIDEXAMPLE", "secretKeyId": "{{ secret('AWS_SECRET') }}"}
    return task, "AWS", password, "{{ outputs.auth.token }}"


def gcp_peer(stack, monkeypatch):
    endpoint = stack.enter_context(TokenEndpoint())
    key_json, key = service_account_key(f"{endpoint.url}/token")
    endpoint.accounts["builder@kd-test.iam.gserviceaccount.com"] = key.public_key()
    monkeypatch.setenv("KESTRA_SECRET_GCP_SA", key_json)
    task = {"id": "auth", "type": "io.kestra.plugin.gcp.auth.OauthAccessToken",
            "serviceAccount": "{{ secret('GCP_SA') }}"}
    return task, "oauth2accesstoken", endpoint.token, "{{ outputs.auth.accessToken.tokenValue }}"


def azure_peer(stack, monkeypatch):
    endpoint = stack.enter_context(TokenEndpoint())
    endpoint.clients[(TENANT, CLIENT)] = {"secret": "azure-client-secret"}
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", endpoint.url)
    monkeypatch.setenv("KESTRA_SECRET_AZ", "azure-client-secret")
    task = {"id": "auth", "type": "io.kestra.plugin.azure.auth.OauthAccessToken", "tenantId": TENANT,
            "clientId": CLIENT, "clientSecret": "{{ secret('AZ') }}",
            "scopes": ["https://containerregistry.azure.net/.default"]}
    return task, "00000000-0000-0000-0000-000000000000", endpoint.token, "{{ outputs.auth.accessToken.tokenValue }}"


def token_flow(auth_task: dict, image: str, creds: dict) -> str:
    """token → Tag → Push → Rm → Pull → Rm → a script whose Docker runner pulls the image, all with ``creds``."""
    tasks = [
        auth_task,
        {"id": "tag", "type": "io.kestra.plugin.docker.Tag", "sourceImage": dockerinfra.BASE_TAG, "targetImage": image},
        {"id": "push", "type": "io.kestra.plugin.docker.Push", "tags": [image], "credentials": creds},
        {"id": "rm", "type": "io.kestra.plugin.docker.Rm", "imageIds": [image]},
        {"id": "pull", "type": "io.kestra.plugin.docker.Pull", "image": image, "credentials": creds},
        {"id": "rm_again", "type": "io.kestra.plugin.docker.Rm", "imageIds": [image]},
        {"id": "script", "type": "io.kestra.plugin.scripts.shell.Commands", "containerImage": image,
         "taskRunner": {"type": DOCKER_RUNNER, "pullPolicy": "ALWAYS", "credentials": creds},
         "commands": ["echo ran-from-the-token-registry"]},
    ]
    return yaml.safe_dump({"id": "token_push", "namespace": "kd.test", "tasks": tasks}, sort_keys=False)


@pytest.mark.parametrize("peer", [ecr_peer, gcp_peer, azure_peer], ids=["ecr", "gcp", "azure"])
def test_token_task_feeds_push_pull_and_runner_credentials(peer, docker_daemon, base_image, skopeo, dagster_home,
                                                           tmp_path, monkeypatch, unique):
    with ExitStack() as stack:
        task, user, token, expression = peer(stack, monkeypatch)
        registry = stack.enter_context(dockerinfra.Registry(username=user, password=token))
        image = f"{registry.host}/kd/tok-{unique}:1"
        flow = tmp_path / "token_push.yaml"
        flow.write_text(token_flow(task, image, {"registry": registry.host, "username": user, "password": expression}))
        result = run_flow_file(str(flow), {})
        assert result["state"] == "SUCCESS", result
        log = run_log(result["runId"])
        assert skopeo_digest(skopeo, image, f"{user}:{token}") == result["outputs"]["push"]["digest"]
        assert result["outputs"]["pull"]["digest"] == result["outputs"]["push"]["digest"]
        assert "ran-from-the-token-registry" in log
        assert token not in log and token not in str(result)

        # a password the registry does not accept: Push fails with the registry's answer, no token shown
        flow.write_text(token_flow(task, image, {"registry": registry.host, "username": user,
                                                 "password": "wrong-token-value"}))
        failed = run_flow_file(str(flow), {})
        assert failed["state"] == "FAILED" and failed["taskStates"]["push"] == "FAILED", failed
        log = run_log(failed["runId"])
        assert "unauthorized" in log.lower() and "wrong-token-value" not in log and token not in log
        docker_daemon.images.remove(image, force=True)


def skopeo_digest(skopeo: str, ref: str, creds: str) -> str:
    import subprocess

    return subprocess.run([skopeo, "inspect", "--tls-verify=false", "--creds", creds, "--format", "{{.Digest}}",
                           f"docker://{ref}"], capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def test_docker_runner_working_dir_under_tasks_tmp_dir(docker_daemon, base_image, dagster_home, tmp_path, monkeypatch):
    tmp_dir = tmp_path / "shared-tmp"
    monkeypatch.setenv("KESTRA_TASKS_TMP_DIR", str(tmp_dir))
    flow = tmp_path / "runner_tmp.yaml"
    flow.write_text(yaml.safe_dump({"id": "runner_tmp", "namespace": "kd.test", "tasks": [{
        "id": "script", "type": "io.kestra.plugin.scripts.shell.Commands", "containerImage": base_image,
        "taskRunner": {"type": DOCKER_RUNNER, "pullPolicy": "NEVER", "delete": False},
        "outputFiles": ["made.txt"],
        "commands": ['echo "::{\\"outputs\\":{\\"pwd\\":\\"$(pwd)\\"}}::"', "echo from-the-container > made.txt"],
    }]}))
    result = run_flow_file(str(flow), {})
    try:
        assert result["state"] == "SUCCESS", result
        pwd = result["outputs"]["script"]["vars"]["pwd"]
        assert pwd.startswith(f"{tmp_dir}/kestra-task-"), pwd
        container, = docker_daemon.containers.list(all=True, filters={"label": "kestra.flow=kd.test.runner_tmp"})
        mounts = [(m["Source"], m["Destination"]) for m in container.attrs["Mounts"] if m["Type"] == "bind"]
        assert (pwd, pwd) in mounts  # the same path on the host (the shared volume) and in the container
    finally:
        for container in docker_daemon.containers.list(all=True, filters={"label": "kestra.flow=kd.test.runner_tmp"}):
            container.remove(force=True)


def test_registry_token_is_sent_as_bearer_by_push_pull_and_build(docker_daemon, base_image, dagster_home, tmp_path,
                                                                  monkeypatch, unique):
    """``credentials.registryToken``: a token service (here the GCP token endpoint) issues a registry
    bearer token; Push and Pull send it through the daemon, Build's ``docker`` CLI through config.json."""
    issuer = rsa_key()
    pem, der = self_signed_pem(issuer, "kd-test-issuer")
    bundle = tmp_path / "issuer.pem"
    bundle.write_text(pem[pem.index("-----BEGIN CERTIFICATE-----"):])
    source, built = f"kd/bearer-{unique}", f"kd/built-{unique}"
    with ExitStack() as stack:
        endpoint = stack.enter_context(TokenEndpoint(token=registry_token(issuer, der, [source, built])))
        key_json, key = service_account_key(f"{endpoint.url}/token")
        endpoint.accounts["builder@kd-test.iam.gserviceaccount.com"] = key.public_key()
        monkeypatch.setenv("KESTRA_SECRET_GCP_SA", key_json)
        registry = stack.enter_context(dockerinfra.Registry(token_auth={
            "realm": f"{endpoint.url}/registry-token", "service": "kd-registry", "issuer": "kd-test-issuer",
            "rootcertbundle": str(bundle)}))
        image, image2 = f"{registry.host}/{source}:1", f"{registry.host}/{built}:1"
        creds = {"registry": registry.host, "registryToken": "{{ outputs.auth.accessToken.tokenValue }}"}
        tasks = [
            {"id": "auth", "type": "io.kestra.plugin.gcp.auth.OauthAccessToken", "serviceAccount": "{{ secret('GCP_SA') }}",
             "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
            {"id": "tag", "type": "io.kestra.plugin.docker.Tag", "sourceImage": base_image, "targetImage": image},
            {"id": "push", "type": "io.kestra.plugin.docker.Push", "tags": [image], "credentials": creds},
            {"id": "rm", "type": "io.kestra.plugin.docker.Rm", "imageIds": [image]},
            {"id": "pull", "type": "io.kestra.plugin.docker.Pull", "image": image, "credentials": creds},
            {"id": "rm_again", "type": "io.kestra.plugin.docker.Rm", "imageIds": [image]},
            {"id": "build", "type": "io.kestra.plugin.docker.Build", "dockerfile": f"FROM {image}\nRUN echo {unique} > /stamp\n",
             "pull": True, "push": True, "tags": [image2], "credentials": creds},
        ]
        flow = tmp_path / "bearer.yaml"
        flow.write_text(yaml.safe_dump({"id": "bearer", "namespace": "kd.test", "tasks": tasks}, sort_keys=False))
        result = run_flow_file(str(flow), {})
        assert result["state"] == "SUCCESS", result
        assert result["outputs"]["pull"]["digest"] == result["outputs"]["push"]["digest"]
        assert result["outputs"]["build"]["digest"].startswith("sha256:")
        log = run_log(result["runId"])
        assert endpoint.token not in log and endpoint.token not in str(result)

        # a token the registry cannot verify is refused
        tasks[2]["credentials"] = {"registry": registry.host, "registryToken": registry_token(rsa_key(), der, [source])}
        flow.write_text(yaml.safe_dump({"id": "bearer", "namespace": "kd.test", "tasks": tasks[:3]}, sort_keys=False))
        failed = run_flow_file(str(flow), {})
        assert failed["taskStates"]["push"] == "FAILED", failed
        for ref in (image, image2, result["outputs"]["build"]["imageId"]):
            try:
                docker_daemon.images.remove(ref, force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
