"""The Docker issue's promotion example (``flows/docker_promote_by_digest.yaml``) end to end through
its Pause: build + push to staging + smoke test, PAUSED, approval through the HTTP API, then the
same digest promoted to production. Real dockerd and two loopback registries (the Docker tests'
``dockerinfra``); outside CI a missing part skips, in CI it fails.
"""

from __future__ import annotations

import shutil
import sys
import uuid
import warnings
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "docker"))

import dockerinfra
from kd_testing import unavailable  # noqa: E402

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def docker_parts():
    reason, stop = dockerinfra.ensure_daemon()
    if reason:
        unavailable(reason)
    if not shutil.which("docker-registry"):
        unavailable("docker-registry is not installed (apt-get install docker-registry)")
    if not dockerinfra.BUSYBOX.exists():
        unavailable("/bin/busybox is missing (apt-get install busybox-static)")
    import docker

    client = docker.from_env(timeout=300)
    dockerinfra.busybox_image(client)
    staging, prod = dockerinfra.Registry().start(), dockerinfra.Registry().start()
    try:
        yield client, staging, prod
    finally:
        staging.stop()
        prod.stop()
        client.close()
        stop()


def test_promotion_pauses_then_promotes_the_same_digest_after_an_api_approval(docker_parts, tmp_path):
    from kestra_dagster.approvals.api import ApprovalAuth, build_routes
    from kestra_dagster.compiler.definitions import build_definitions
    from kestra_dagster.compiler.ops import END_NODE, OK
    from kestra_dagster.oci.client import RegistryClient

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.applications import Starlette
        from starlette.testclient import TestClient

    client, staging, prod = docker_parts
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(REPO / "flows" / "docker_promote_by_digest.yaml", flows)
    defs = build_definitions([flows])
    (tmp_path / "home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "home"))
    repo = f"svc/gate-{uuid.uuid4().hex[:8]}"
    inputs = {"stagingRegistry": staging.host, "prodRegistry": prod.host, "repository": repo,
              "baseImage": dockerinfra.BASE_TAG}
    try:
        part1 = defs.resolve_job_def("examples_docker__docker_promote_by_digest").execute_in_process(
            instance=instance, run_config={"inputs": inputs})
        run1 = instance.get_run_by_id(part1.run_id)
        assert run1.tags["kestra/state"] == "PAUSED" and run1.tags["kestra/waiting_for"] == "approval"
        assert RegistryClient(prod.host).list_tags(repo) == []  # nothing promoted before the decision

        app = Starlette(routes=build_routes(auth=ApprovalAuth(users={"release-manager": "pw"}), instance=instance))
        with TestClient(app) as http:
            r = http.post(f"/api/v1/executions/{part1.run_id}/resume", json={}, auth=("release-manager", "pw"))
        assert r.status_code == 200 and r.json()["by"] == "release-manager", r.text

        sensor = defs.resolve_sensor_def("examples_docker__docker_promote_by_digest__resume")
        (request,) = sensor.evaluate_tick(dg.build_sensor_context(instance=instance)).run_requests
        part2 = defs.resolve_job_def(request.job_name).execute_in_process(
            instance=instance, run_config=request.run_config, tags=request.tags)
        execution = part2.output_for_node(END_NODE, OK)
        assert execution.final_state == "SUCCESS"
        built = execution.outputs["build"]["digest"]
        assert execution.outputs["promote"]["digest"] == built
        assert RegistryClient(prod.host).resolve(repo, "live") == built  # the very digest that was approved
        run2 = instance.get_run_by_id(part2.run_id)
        assert run2.tags["kestra/decided_by"] == "release-manager" and run2.tags["kestra/execution_id"] == part1.run_id
    finally:
        for image in client.images.list(name=f"{staging.host}/{repo}"):
            client.images.remove(image.id, force=True)
        instance.dispose()
