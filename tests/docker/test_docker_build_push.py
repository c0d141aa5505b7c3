"""Build / Push / Tag / Pull / Rm against the real daemon and a loopback registry, digests checked with skopeo."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

import dockerinfra

from kestra_dagster.errors import TaskFailed, TaskKilled
from kestra_dagster.sdk.docker import ASSET_KEY
from kestra_dagster.tasks.docker.build import Build
from kestra_dagster.tasks.docker.pull import Pull
from kestra_dagster.tasks.docker.push import Push
from kestra_dagster.tasks.docker.rm import Rm
from kestra_dagster.tasks.docker.tag import Tag

pytestmark = pytest.mark.slow


def skopeo_digest(skopeo: str, ref: str, creds: str | None = None) -> str:
    args = [skopeo, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{ref}"]
    if creds:
        args[2:2] = ["--creds", creds]
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def containers_of(client) -> set[str]:
    """Containers descending from our base image (others may share the daemon)."""
    import dockerinfra

    return {c["Id"] for c in client.api.containers(all=True, filters={"ancestor": dockerinfra.BASE_TAG})}


def test_build_push_outputs_digests_matching_skopeo(docker_daemon, base_image, registry, skopeo, make_ctx, unique):
    ctx = make_ctx("build")
    (ctx.working_dir / "hello.txt").write_text(f"hello {unique}\n")
    repo = f"{registry.host}/kd/app-{unique}"
    task = Build(id="build", type=Build.kestra_type, pull=False, push=True,
                 dockerfile=f"FROM {base_image}\nARG WHO\nCOPY hello.txt /hello.txt\nRUN echo built-for-$WHO > /who\n",
                 tags=[f"{repo}:1", f"{repo}:latest"], buildArgs={"WHO": "{{ who }}"}, labels={"org.example": "x"})
    ctx.variables["who"] = "kestra"
    out = task.run(ctx)
    assert out["imageId"].startswith("sha256:") and len(out["imageId"]) == 71
    assert out["digest"].startswith("sha256:")
    assert out["repoDigests"] == [f"{repo}@{out['digest']}"]
    assert skopeo_digest(skopeo, f"{repo}:1") == out["digest"]
    assert skopeo_digest(skopeo, f"{repo}:latest") == out["digest"]
    log = ctx.logger.text()
    assert "Step 1/" in log and "RUN echo built-for-$WHO" in log  # the build log reached the task logger
    assert "DEPRECATED" not in "\n".join(m for _, lvl, m in ctx.logger.records if lvl == "INFO")
    events = out[ASSET_KEY]
    assert len(events) == 1 and events[0]["metadata"]["digest"] == out["digest"]
    assert sorted(events[0]["metadata"]["tags"]) == ["1", "latest"]
    image = docker_daemon.images.get(out["imageId"])
    assert image.labels["org.example"] == "x"
    docker_daemon.images.remove(out["imageId"], force=True)


def test_build_inline_vs_file_dockerfile_and_input_files(docker_daemon, base_image, make_ctx, unique):
    ctx = make_ctx("build")
    (ctx.working_dir / "Dockerfile.app").write_text(f"FROM {base_image}\nCOPY data.txt /data.txt\n")
    task = Build(id="build", type=Build.kestra_type, pull=False, dockerfile="Dockerfile.app",
                 tags=[f"kd-local/file-{unique}:1"], inputFiles={"data.txt": "from inputFiles"})
    out = task.run(ctx)
    try:
        assert "digest" not in out
        output = dockerinfra.run_and_read(docker_daemon, out["imageId"], ["cat", "/data.txt"])
        assert output.strip() == "from inputFiles"
    finally:
        docker_daemon.images.remove(out["imageId"], force=True)


def test_failed_build_leaves_no_container(docker_daemon, base_image, make_ctx, unique):
    before = containers_of(docker_daemon)
    ctx = make_ctx("build")
    task = Build(id="build", type=Build.kestra_type, pull=False, tags=[f"kd-local/fail-{unique}:1"],
                 dockerfile=f"FROM {base_image}\nRUN echo about-to-fail && exit 3\n")
    with pytest.raises(TaskFailed) as info:
        task.run(ctx)
    assert "exit code" in str(info.value)
    assert "about-to-fail" in ctx.logger.text()
    assert containers_of(docker_daemon) == before


def test_cancelled_build_stops_and_leaves_no_container(docker_daemon, base_image, make_ctx, unique):
    before = containers_of(docker_daemon)
    ctx = make_ctx("build")
    task = Build(id="build", type=Build.kestra_type, pull=False, tags=[f"kd-local/slow-{unique}:1"],
                 dockerfile=f"FROM {base_image}\nRUN echo sleeping && sleep 60\n")
    timer = threading.Timer(2.5, ctx.cancel_event.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(TaskKilled):
        task.run(ctx)
    assert time.monotonic() - started < 15
    deadline = time.monotonic() + 15
    while containers_of(docker_daemon) != before and time.monotonic() < deadline:
        time.sleep(0.3)
    assert containers_of(docker_daemon) == before


def test_multi_platform_without_buildx_is_a_clear_error(make_ctx):
    ctx = make_ctx("build")
    task = Build(id="build", type=Build.kestra_type, dockerfile="FROM scratch\n", tags=["x/y:1"],
                 platforms=["linux/amd64", "linux/arm64"])
    with pytest.raises(TaskFailed, match="buildx"):
        task.run(ctx)


def test_push_to_auth_registry_tag_pull_rm(docker_daemon, base_image, auth_registry, skopeo, make_ctx, unique):
    repo = f"{auth_registry.host}/team/svc-{unique}"
    creds = {"registry": auth_registry.host, "username": "ci", "password": "{{ pw }}"}
    ctx = make_ctx("tag")
    out = Tag(id="tag", type=Tag.kestra_type, sourceImage=base_image, targetImage=f"{repo}:1").run(ctx)
    assert out["imageId"] == docker_daemon.images.get(base_image).id

    ctx = make_ctx("push", variables={"pw": "s3cret-pass"})
    pushed = Push(id="push", type=Push.kestra_type, tags=[f"{repo}:1"], credentials=creds).run(ctx)
    assert "s3cret-pass" not in ctx.logger.text()
    assert skopeo_digest(skopeo, f"{repo}:1", "ci:s3cret-pass") == pushed["digest"]

    bad = make_ctx("push", variables={"pw": "wrong-password"})
    with pytest.raises(TaskFailed) as info:
        Push(id="push", type=Push.kestra_type, tags=[f"{repo}:1"], credentials=creds).run(bad)
    assert "wrong-password" not in str(info.value)

    # Tag by repo digest, remove, pull back by digest through the credentials' registry
    ctx = make_ctx("tag")
    Tag(id="tag", type=Tag.kestra_type, sourceImage=f"{repo}@{pushed['digest']}", targetImage=f"{repo}:2").run(ctx)
    ctx = make_ctx("rm")
    Rm(id="rm", type=Rm.kestra_type, imageIds=[f"{repo}:1", f"{repo}:2"]).run(ctx)
    assert not any(t.startswith(repo) for t in docker_daemon.images.get(base_image).tags)
    ctx = make_ctx("pull", variables={"pw": "s3cret-pass"})
    pulled = Pull(id="pull", type=Pull.kestra_type, image=f"team/svc-{unique}:1", credentials=creds).run(ctx)
    assert pulled["digest"] == pushed["digest"]
    assert pulled["image"] == f"{repo}:1"
    Rm(id="rm", type=Rm.kestra_type, imageIds=[f"{repo}:1"]).run(make_ctx("rm"))
