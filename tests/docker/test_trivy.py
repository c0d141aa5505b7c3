"""Trivy gate with the real binary: secret scan, fixture CVE DB, SBOM files, scan record for Promote."""

from __future__ import annotations

import json

import pytest

import dockerinfra
from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.docker.build import Build
from kestra_dagster.tasks.docker.promote import Promote
from kestra_dagster.tasks.trivy.scan import Scan
from kestra_dagster.tasks.trivy.trivy_cli import TrivyCLI

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def images(docker_daemon, base_image):
    """Local test images: clean, secret-laden, and one with a package the fixture DB flags."""
    tags = {
        "clean": "kd-test/scan-clean:1",
        "secret": "kd-test/scan-secret:1",
        "cve": "kd-test/scan-cve:1",
    }
    dockerinfra.build_image(docker_daemon, tags["clean"], f"FROM {base_image}\nCOPY app.txt /app/app.txt\n",
                            {"app.txt": "nothing to see\n"})
    dockerinfra.build_image(docker_daemon, tags["secret"], f"FROM {base_image}\nCOPY config.env /app/config.env\n",
                            {"config.env": dockerinfra.SECRET_ENV})
    dockerinfra.build_image(
        docker_daemon, tags["cve"],
        f"FROM {base_image}\nCOPY os-release /etc/os-release\nCOPY debian_version /etc/debian_version\n"
        "COPY status /var/lib/dpkg/status\n"
        "COPY METADATA /usr/local/lib/python3.11/site-packages/requests-2.0.0.dist-info/METADATA\n",
        {"os-release": dockerinfra.OS_RELEASE, "debian_version": "12.5\n", "status": dockerinfra.DPKG_STATUS,
         "METADATA": dockerinfra.REQUESTS_METADATA})
    yield tags
    for tag in tags.values():
        try:
            docker_daemon.images.remove(tag, force=True)
        except Exception:  # noqa: BLE001
            pass


def test_secret_image_fails_the_gate_and_keeps_its_report(trivy, images, make_ctx):
    ctx = make_ctx("scan")
    task = Scan(id="scan", type=Scan.kestra_type, image=images["secret"], scanners=["secret"])
    with pytest.raises(TaskFailed) as info:
        task.run(ctx)
    out = info.value.outputs
    assert out["counts"]["CRITICAL"] == 2 and out["passed"] is False
    assert {f["id"] for f in out["findings"]} == {"aws-access-key-id", "aws-secret-access-key"}
    report = json.loads(make_ctx.storage.read_bytes(out["report"]))
    assert report["Results"][0]["Secrets"]
    assert out["sbom"].startswith("kestra://")
    assert "scan summary" in ctx.logger.text() and "CRITICAL: 2" in ctx.logger.text()


def test_fixture_cve_db_flags_the_vulnerable_packages(trivy, trivy_cache, images, make_ctx):
    ctx = make_ctx("scan")
    task = Scan(id="scan", type=Scan.kestra_type, image=images["cve"], cacheDir=str(trivy_cache))
    with pytest.raises(TaskFailed, match="scan gate failed"):
        task.run(ctx)
    ctx = make_ctx("scan")
    out = Scan(id="scan", type=Scan.kestra_type, image=images["cve"], cacheDir=str(trivy_cache),
               failOnFindings=False).run(ctx)
    assert out["counts"] == {"HIGH": 1, "CRITICAL": 1}
    assert {f["id"] for f in out["findings"]} == {"CVE-2099-0001", "CVE-2099-0002"}
    only_critical = Scan(id="scan", type=Scan.kestra_type, image=images["cve"], cacheDir=str(trivy_cache),
                         severity="CRITICAL", failOnFindings=False, sbomFormat="NONE").run(make_ctx("scan"))
    assert only_critical["total"] == 1 and "sbom" not in only_critical
    low = Scan(id="scan", type=Scan.kestra_type, image=images["cve"], cacheDir=str(trivy_cache),
               severity=["LOW", "MEDIUM"], sbomFormat="NONE").run(make_ctx("scan"))
    assert low["passed"] is True


def test_clean_image_passes_with_cyclonedx_and_spdx_sboms(trivy, trivy_cache, images, make_ctx):
    out = Scan(id="scan", type=Scan.kestra_type, image=images["cve"], scanners="secret").run(make_ctx("scan"))
    assert out["passed"] is True
    sbom = json.loads(make_ctx.storage.read_bytes(out["sbom"]))
    assert sbom["bomFormat"] == "CycloneDX"
    names = {c["name"] for c in sbom.get("components", [])}
    assert {"requests", "libfakessl3"} <= names
    out = Scan(id="scan", type=Scan.kestra_type, image=images["clean"], cacheDir=str(trivy_cache),
               sbomFormat="spdx-json").run(make_ctx("scan"))
    assert out["passed"] is True and out["total"] == 0
    spdx = json.loads(make_ctx.storage.read_bytes(out["sbom"]))
    assert spdx["spdxVersion"].startswith("SPDX-")


def test_scan_record_travels_and_gates_promotion(trivy, trivy_cache, docker_daemon, base_image, registry, make_ctx, unique):
    repo = f"{registry.host}/scan/app-{unique}"
    clean = Build(id="b", type=Build.kestra_type, pull=False, push=True, tags=[f"{repo}:clean"],
                  dockerfile=f"FROM {base_image}\nRUN echo ok > /ok\n").run(make_ctx("b"))
    dirty = Build(id="b", type=Build.kestra_type, pull=False, push=True, tags=[f"{repo}:dirty"],
                  inputFiles={"config.env": dockerinfra.SECRET_ENV},
                  dockerfile=f"FROM {base_image}\nCOPY config.env /app/config.env\n").run(make_ctx("b"))
    try:
        ok = Scan(id="s", type=Scan.kestra_type, image=f"{repo}@{clean['digest']}", imageSource="REMOTE",
                  cacheDir=str(trivy_cache), attach=True).run(make_ctx("s"))
        assert ok["passed"] and ok["attachment"].endswith(".sbom")
        assert ok["__dagster_asset_materializations__"][0]["metadata"]["scanPassed"] is True
        ctx = make_ctx("s")
        with pytest.raises(TaskFailed):
            Scan(id="s", type=Scan.kestra_type, image=f"{repo}@{dirty['digest']}", scanners="secret",
                 attach=True).run(ctx)

        out = Promote(id="p", type=Promote.kestra_type, source=f"{repo}@{clean['digest']}",
                      target=f"{registry.host}/prod/scanned-{unique}:v1", requireScan=True).run(make_ctx("p"))
        assert out["policy"]["scan"]["passed"] is True
        assert any(a.endswith(".sbom") for a in out["copies"][0]["attachments"])  # the SBOM travels
        with pytest.raises(TaskFailed, match="did not pass"):
            Promote(id="p", type=Promote.kestra_type, source=f"{repo}@{dirty['digest']}",
                    target=f"{registry.host}/prod/scanned-{unique}:v2", requireScan=True).run(make_ctx("p"))
        unscanned = Build(id="b", type=Build.kestra_type, pull=False, push=True, tags=[f"{repo}:unscanned"],
                          dockerfile=f"FROM {base_image}\nRUN echo new > /new\n").run(make_ctx("b"))
        with pytest.raises(TaskFailed, match="no scan recorded"):
            Promote(id="p", type=Promote.kestra_type, source=f"{repo}@{unscanned['digest']}",
                    target=f"{registry.host}/prod/scanned-{unique}:v3", requireScan=True).run(make_ctx("p"))
        docker_daemon.images.remove(unscanned["imageId"], force=True)
    finally:
        for built in (clean, dirty):
            docker_daemon.images.remove(built["imageId"], force=True)


def test_trivy_cli_runs_commands_with_our_trivy(trivy, images, make_ctx):
    ctx = make_ctx("cli")
    out = TrivyCLI(id="cli", type=TrivyCLI.kestra_type, commands=["trivy --version"]).run(ctx)
    assert out["exitCode"] == 0 and "Version:" in ctx.logger.text()
    ctx = make_ctx("cli")
    with pytest.raises(TaskFailed):
        TrivyCLI(id="cli", type=TrivyCLI.kestra_type, commands=[
            f"trivy image --image-src docker --scanners secret --exit-code 1 --severity CRITICAL {images['secret']}"
        ]).run(ctx)
