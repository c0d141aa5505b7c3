"""The example flows end to end: build → scan gate → push → sign → notify; promotion by digest; custom runner image."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading

import pytest

import dockerinfra
from kestra_dagster.oci.client import RegistryClient
from kestra_dagster.tasks.cosign._cosign import generate_key_pair

pytestmark = pytest.mark.slow
FLOWS = dockerinfra.REPO_ROOT / "flows"


def run(flow: str, inputs: dict) -> dict:
    from kestra_dagster.compiler.runner_cli import run_flow_file

    return run_flow_file(str(FLOWS / flow), inputs)


def skopeo_digest(ref: str) -> str:
    return subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{ref}"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()


@pytest.fixture(scope="module")
def prod_registry():
    reg = dockerinfra.Registry().start()
    yield reg
    reg.stop()


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            received.append(json.loads(body or b"{}"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def cosign_secrets():
    priv, pub = generate_key_pair("flow-pass")
    mp = pytest.MonkeyPatch()
    mp.setenv("KESTRA_SECRET_COSIGN_KEY", priv)
    mp.setenv("KESTRA_SECRET_COSIGN_PASSWORD", "flow-pass")
    yield pub
    mp.undo()


def test_build_scan_sign_push_clean_image(docker_daemon, base_image, registry, trivy, skopeo, cosign_secrets, webhook, unique):
    url, received = webhook
    repo = f"gate/clean-{unique}"
    result = run("docker_build_scan_sign_push.yaml", {"registry": registry.host, "repository": repo, "notifyUrl": url})
    assert result["state"] == "SUCCESS", result["taskStates"]
    digest = result["flowOutputs"]["digest"]
    assert skopeo_digest(f"{registry.host}/{repo}:1") == digest
    assert result["outputs"]["sign"]["digest"] == digest
    from kestra_dagster.tasks.cosign._cosign import load_public_key, verify_image_signatures

    claims = verify_image_signatures(RegistryClient(registry.host), repo, digest, load_public_key(cosign_secrets))
    assert len(claims) == 1 and claims[0].annotations["scan"] == "passed"
    assert received and received[0]["image"].endswith(digest)
    docker_daemon.images.remove(result["outputs"]["build"]["imageId"], force=True)


@pytest.mark.parametrize("case", ["secret", "cve"])
def test_failing_gate_is_never_pushed_nor_signed(case, docker_daemon, base_image, registry, trivy, trivy_cache,
                                                 cosign_secrets, webhook, unique):
    url, received = webhook
    repo = f"gate/{case}-{unique}"
    inputs = {"registry": registry.host, "repository": repo, "notifyUrl": url}
    if case == "secret":
        inputs["appConfig"] = dockerinfra.SECRET_ENV
    else:
        dockerinfra.build_image(
            docker_daemon, "kd-test/vulnerable-base:1",
            f"FROM {base_image}\nCOPY os-release /etc/os-release\nCOPY debian_version /etc/debian_version\n"
            "COPY status /var/lib/dpkg/status\n"
            "COPY METADATA /usr/local/lib/python3.11/site-packages/requests-2.0.0.dist-info/METADATA\n",
            {"os-release": dockerinfra.OS_RELEASE, "debian_version": "12.5\n", "status": dockerinfra.DPKG_STATUS,
             "METADATA": dockerinfra.REQUESTS_METADATA})
        inputs.update(baseImage="kd-test/vulnerable-base:1", scanners="vuln", trivyCacheDir=str(trivy_cache))
    result = run("docker_build_scan_sign_push.yaml", inputs)
    assert result["state"] == "FAILED"
    states = result["taskStates"]
    assert states["build"] == "SUCCESS" and states["scan"] == "FAILED"
    assert "push" not in states and "sign" not in states and not received
    assert result["outputs"]["scan"]["total"] >= 1 and result["outputs"]["scan"]["report"].startswith("kestra://")
    assert RegistryClient(registry.host).list_tags(repo) == []
    docker_daemon.images.remove(result["outputs"]["build"]["imageId"], force=True)
    if case == "cve":
        docker_daemon.images.remove("kd-test/vulnerable-base:1", force=True)


def without_gate(tmp_path, flow: str) -> str:
    """The example flow minus its top-level Pause (the gate splits the job; resuming needs the daemon's sensor)."""
    import yaml

    doc = yaml.safe_load((FLOWS / flow).read_text())
    doc["tasks"] = [t for t in doc["tasks"] if not t["type"].endswith(".Pause")]
    path = tmp_path / flow
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def test_promotion_waits_at_the_approval_gate(docker_daemon, base_image, registry, prod_registry, skopeo, unique):
    repo = f"svc/gated-{unique}"
    result = run("docker_promote_by_digest.yaml", {"stagingRegistry": registry.host, "prodRegistry": prod_registry.host,
                                                   "repository": repo})
    assert result["taskStates"] == {"build": "SUCCESS", "smoke": "SUCCESS", "approval": "PAUSED"}
    digest = result["outputs"]["build"]["digest"]
    assert skopeo_digest(f"{registry.host}/{repo}:1.0.0") == digest
    assert RegistryClient(prod_registry.host).list_tags(repo) == []  # nothing promoted before the decision
    docker_daemon.images.remove(result["outputs"]["build"]["imageId"], force=True)


def test_promotion_by_digest_and_rollback(docker_daemon, base_image, registry, prod_registry, skopeo, unique, tmp_path):
    from kestra_dagster.compiler.runner_cli import run_flow_file

    flow = without_gate(tmp_path, "docker_promote_by_digest.yaml")
    repo = f"svc/api-{unique}"
    common = {"stagingRegistry": registry.host, "prodRegistry": prod_registry.host, "repository": repo}

    def run(_name, inputs):  # noqa: F811 - same call shape as the module helper, on the gate-less copy
        return run_flow_file(flow, inputs)

    first = run("docker_promote_by_digest.yaml", {**common, "version": "1.0.0"})
    assert first["state"] == "SUCCESS", first["taskStates"]
    d1 = first["outputs"]["promote"]["digest"]
    assert skopeo_digest(f"{registry.host}/{repo}:1.0.0") == d1
    assert skopeo_digest(f"{prod_registry.host}/{repo}:1.0.0") == d1
    assert skopeo_digest(f"{prod_registry.host}/{repo}:live") == d1
    second = run("docker_promote_by_digest.yaml", {**common, "version": "2.0.0"})
    d2 = second["outputs"]["promote"]["digest"]
    assert d2 != d1 and skopeo_digest(f"{prod_registry.host}/{repo}:live") == d2
    assert second["outputs"]["promote"]["copies"][0]["blobs"]["exists"] >= 1  # the base layer was already there
    back = run("docker_promote_by_digest.yaml", {**common, "rollbackDigest": d1})
    assert back["state"] == "SUCCESS" and back["taskStates"].get("build") in (None, "SKIPPED")
    assert skopeo_digest(f"{prod_registry.host}/{repo}:live") == d1
    for r in (first, second):
        docker_daemon.images.remove(r["outputs"]["build"]["imageId"], force=True)


def test_custom_runner_image_flow(docker_daemon, base_image):
    from kestra_dagster.engine.storage import default_storage

    result = run("docker_custom_runner_image.yaml", {})
    assert result["state"] == "SUCCESS", result["taskStates"]
    assert result["outputs"]["report"]["vars"] == {"tool": "make-report"}
    text = default_storage().read_bytes(result["flowOutputs"]["report"]).decode()
    assert text.startswith("report for ")
    image_id = result["outputs"]["image"]["imageId"]
    assert image_id not in {i.id for i in docker_daemon.images.list()}  # finally removed it


def test_example_flows_load_without_a_daemon(monkeypatch):
    """Loading (dagster dev) must not touch Docker: point DOCKER_HOST nowhere and compile."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    from kestra_dagster.compiler.definitions import load_catalog

    catalog = load_catalog([str(p) for p in sorted(FLOWS.glob("docker_*.yaml"))])
    assert len([uid for uid in catalog.flows if "docker" in uid]) == 5
