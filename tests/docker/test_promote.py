"""Digest-pinned promotion through the registry API: same digest everywhere, 0 bytes within a registry."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from kestra_dagster.errors import TaskFailed
from kestra_dagster.oci.client import (
    RegistryClient,
    RegistryError,
    attachment_tag,
    copy_image,
    parse_reference,
)
from kestra_dagster.sdk.docker import ASSET_KEY
from kestra_dagster.tasks.docker.build import Build
from kestra_dagster.tasks.docker.promote import Promote

pytestmark = pytest.mark.slow


def skopeo_digest(skopeo: str, ref: str, creds: str | None = None) -> str:
    args = [skopeo, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{ref}"]
    if creds:
        args[2:2] = ["--creds", creds]
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout.strip()


@pytest.fixture(scope="module")
def pushed(docker_daemon, base_image, registry, tmp_path_factory):
    """An image with a 2 MB random layer pushed to the staging registry: (repo ref, digest)."""
    import os

    from kestra_dagster.engine.context import TaskContext, TaskRunInfo
    from kestra_dagster.engine.storage import LocalStorage

    work = tmp_path_factory.mktemp("promote-build")
    (work / "blob.bin").write_bytes(os.urandom(2 * 1024 * 1024))

    class Log:
        def __getattr__(self, name):
            return lambda msg: None

    ctx = TaskContext(task_id="build", task_type="t", variables={}, logger=Log(), working_dir=work,
                      storage=LocalStorage(work / "s").for_task("a", "f", "e", "build", "r"), kv=None,
                      namespace="a", flow_id="f", execution_id="e",
                      taskrun=TaskRunInfo(id="r", task_id="build", start_date="x"), renderer=lambda v, _: v)
    repo = f"{registry.host}/staging/app"
    out = Build(id="build", type=Build.kestra_type, pull=False, push=True, tags=[f"{repo}:rc1"],
                dockerfile=f"FROM {base_image}\nCOPY blob.bin /blob.bin\n").run(ctx)
    yield repo, out["digest"]
    docker_daemon.images.remove(out["imageId"], force=True)


def test_parse_reference():
    r = parse_reference("127.0.0.1:5001/team/app:1")
    assert (r.registry, r.repository, r.tag, r.digest) == ("127.0.0.1:5001", "team/app", "1", None)
    r = parse_reference("busybox")
    assert (r.registry, r.repository, r.tag) == ("registry-1.docker.io", "library/busybox", "latest")
    d = "sha256:" + "a" * 64
    r = parse_reference(f"localhost:5000/x@{d}")
    assert r.digest == d and r.tag is None and r.reference == d
    with pytest.raises(ValueError):
        parse_reference("127.0.0.1:5001/UPPER/case:1")
    assert attachment_tag(d, ".sig") == "sha256-" + "a" * 64 + ".sig"


def test_promote_same_registry_mounts_zero_bytes(pushed, registry, skopeo, make_ctx):
    repo, digest = pushed
    ctx = make_ctx("promote")
    out = Promote(id="promote", type=Promote.kestra_type, source=f"{repo}@{digest}",
                  target=f"{registry.host}/prod/app:v1").run(ctx)
    assert out["digest"] == digest
    copy = out["copies"][0]
    assert copy["bytesUploaded"] == 0
    assert copy["blobs"]["uploaded"] == 0 and copy["blobs"]["mounted"] + copy["blobs"]["exists"] >= 2
    assert skopeo_digest(skopeo, f"{registry.host}/prod/app:v1") == digest
    event = out[ASSET_KEY][0]
    assert event["assetKey"][-2:] == ["prod", "app"] and event["metadata"]["event"] == "promote"
    assert event["metadata"]["digest"] == digest


def test_promote_across_registries_with_auth_then_idempotent(pushed, auth_registry, skopeo, make_ctx):
    repo, digest = pushed
    target = f"{auth_registry.host}/prod/app:v1"
    task = Promote(id="promote", type=Promote.kestra_type, source=f"{repo}@{digest}", target=target,
                   targetCredentials={"username": "ci", "password": "{{ pw }}"})
    ctx = make_ctx("promote", variables={"pw": "s3cret-pass"})
    out = task.run(ctx)
    assert out["copies"][0]["blobs"]["uploaded"] >= 2
    assert out["copies"][0]["bytesUploaded"] > 2 * 1024 * 1024
    assert skopeo_digest(skopeo, target, "ci:s3cret-pass") == digest
    assert "s3cret-pass" not in ctx.logger.text()
    again = task.run(make_ctx("promote", variables={"pw": "s3cret-pass"}))
    assert again["bytesUploaded"] == 0 and again["copies"][0]["blobs"]["uploaded"] == 0

    bad = make_ctx("promote", variables={"pw": "nope-nope"})
    with pytest.raises(TaskFailed) as info:
        Promote(id="promote", type=Promote.kestra_type, source=f"{repo}@{digest}", target=target,
                targetCredentials={"username": "ci", "password": "{{ pw }}"}).run(bad)
    assert "nope-nope" not in str(info.value) and "401" in str(info.value)


def test_promote_refuses_tag_source_unless_allowed(pushed, registry, make_ctx):
    repo, digest = pushed
    with pytest.raises(TaskFailed, match="by digest"):
        Promote(id="p", type=Promote.kestra_type, source=f"{repo}:rc1", target=f"{registry.host}/prod/x:1").run(make_ctx("p"))
    ctx = make_ctx("p")
    out = Promote(id="p", type=Promote.kestra_type, source=f"{repo}:rc1", allowTagSource=True,
                  target=f"{registry.host}/prod/x:1").run(ctx)
    assert out["digest"] == digest
    assert digest in ctx.logger.text()


def test_rollback_is_promoting_the_previous_digest(pushed, docker_daemon, base_image, registry, skopeo, make_ctx):
    repo, first = pushed
    ctx = make_ctx("build")
    second = Build(id="build", type=Build.kestra_type, pull=False, push=True, tags=[f"{repo}:rc2"],
                   dockerfile=f"FROM {base_image}\nRUN echo two > /two\n").run(ctx)
    prod = f"{registry.host}/prod/rollback:live"
    Promote(id="p", type=Promote.kestra_type, source=f"{repo}@{first}", target=prod).run(make_ctx("p"))
    Promote(id="p", type=Promote.kestra_type, source=f"{repo}@{second['digest']}", target=prod).run(make_ctx("p"))
    assert skopeo_digest(skopeo, prod) == second["digest"]
    Promote(id="p", type=Promote.kestra_type, source=f"{repo}@{first}", target=prod).run(make_ctx("p"))
    assert skopeo_digest(skopeo, prod) == first
    docker_daemon.images.remove(second["imageId"], force=True)


class FlakyTransport(httpx.BaseTransport):
    """Fails the first ``n`` requests (503 or a connection error), or every blob PUT when ``break_blobs``."""

    def __init__(self, inner: httpx.BaseTransport, n: int = 0, break_blobs: bool = False):
        self.inner, self.n, self.break_blobs, self.count = inner, n, break_blobs, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.break_blobs and request.method == "PUT" and "/blobs/uploads/" in request.url.path:
            return httpx.Response(500, json={"errors": [{"code": "UNKNOWN", "message": "injected"}]})
        if self.count <= self.n:
            if self.count % 2:
                raise httpx.ConnectError("injected connection reset")
            return httpx.Response(503, text="injected")
        return self.inner.handle_request(request)


def test_registry_faults_are_retried_with_backoff(pushed, registry, auth_registry):
    repo, digest = pushed
    src = RegistryClient(registry.host, backoff=0.01)
    dst = RegistryClient(auth_registry.host, username="ci", password="s3cret-pass", backoff=0.01, retries=6)
    dst._http._transport = FlakyTransport(dst._http._transport, n=4)
    report = copy_image(src, repo.split("/", 1)[1], digest, dst, "flaky/app", ["v1"])
    assert report.digest == digest
    assert dst.resolve("flaky/app", "v1") == digest


def test_target_tag_not_written_when_a_blob_fails(pushed, registry, auth_registry):
    repo, digest = pushed
    src = RegistryClient(registry.host, backoff=0.01)
    dst = RegistryClient(auth_registry.host, username="ci", password="s3cret-pass", backoff=0.01, retries=1)
    dst._http._transport = FlakyTransport(dst._http._transport, break_blobs=True)
    with pytest.raises(RegistryError):
        copy_image(src, repo.split("/", 1)[1], digest, dst, "broken/app", ["v1"])
    check = RegistryClient(auth_registry.host, username="ci", password="s3cret-pass")
    assert check.head_manifest("broken/app", "v1") is None
