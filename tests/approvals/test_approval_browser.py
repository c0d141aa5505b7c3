"""The release gate end to end under the daemon: webhook → PAUSED → decision → next part.

Through the HTTP API with basic auth, and through the approvals page in headless Chromium
(Debian's ``chromium``, driven by Playwright). Uses the example flow
``flows/trigger_approval_release.yaml`` as shipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from kestra_dagster.testing import LocalDeployment, wait_until

REPO = Path(__file__).resolve().parents[2]
FLOW = REPO / "flows" / "trigger_approval_release.yaml"
JOB, PART2 = "examples_triggers__trigger_approval_release", "examples_triggers__trigger_approval_release__after_approval"
USERS = {"alice": "wonderland", "bob": "builder"}
WAIT = 60  # generous for a loaded 2-core machine

pytestmark = pytest.mark.slow


def chromium_path() -> str:
    from kd_testing import unavailable

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        unavailable("chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("approvals")
    flows = root / "flows"
    flows.mkdir()
    shutil.copy(FLOW, flows / FLOW.name)
    env = {"KESTRA_APPROVAL_USERS": ",".join(f"{u}:{p}" for u, p in USERS.items())}
    with LocalDeployment(root, flows, env=env) as dep:
        dep.start_daemon()
        dep.url = dep.start_intake()
        yield dep


def _start_release(dep, version: str):
    r = httpx.post(f"{dep.url}/api/v1/executions/webhook/examples.triggers/trigger_approval_release/release-key",
                   json={"version": version}, timeout=10)
    assert r.status_code == 200, r.text
    (part1,) = dep.wait_for_runs(WAIT, finished=True, tags={"kestra/delivery_id": r.json()["id"]})
    assert part1.tags["kestra/state"] == "PAUSED", part1.tags
    return part1


def _part2(dep, execution_id: str):
    (run,) = dep.wait_for_runs(WAIT, finished=True, job_name=PART2, tags={"kestra/execution_id": execution_id})
    return run


def _output(dep, run, task):
    from kestra_dagster.compiler.triggers import run_outputs

    return run_outputs(dep.instance, run.run_id)[0][task]["value"]


def test_release_paused_then_approved_through_the_api(deployment):
    dep = deployment
    part1 = _start_release(dep, "1.2.0")
    url = f"{dep.url}/api/v1/executions/{part1.run_id}/resume"
    assert httpx.post(url, json={}, timeout=10).status_code == 401
    ok = httpx.post(url, json={"by": "mallory"}, auth=("alice", USERS["alice"]), timeout=10)
    assert ok.status_code == 200 and ok.json()["by"] == "alice", ok.text
    run = _part2(dep, part1.run_id)
    assert run.tags["kestra/state"] == "SUCCESS"
    assert run.tags["kestra/decided_by"] == "alice" and run.tags["kestra/decision"] == "APPROVED"
    assert _output(dep, run, "promote") == "promoted sha256:120 approved by alice"
    again = httpx.post(url, json={}, auth=("bob", USERS["bob"]), timeout=10)
    assert again.status_code == 409 and "already APPROVED by alice" in again.json()["message"]
    assert len(dep.runs(job_name=PART2, tags={"kestra/execution_id": part1.run_id})) == 1


def test_approvals_page_in_headless_chromium(deployment):
    from playwright.sync_api import sync_playwright

    dep = deployment
    part1 = _start_release(dep, "2.0.0")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = browser.new_context(http_credentials={"username": "bob", "password": USERS["bob"]}).new_page()
            page.goto(f"{dep.url}/approvals")
            gate = page.locator(f"section.gate[data-execution='{part1.run_id}']")
            gate.wait_for(timeout=10_000)
            assert "Promote sha256:200 (version 2.0.0) to production?" in gate.inner_text()
            assert "Signed in as bob" in page.inner_text("body")
            gate.locator("button.approve").click()
            page.wait_for_url("**/approvals?msg=*")
            assert "APPROVED 'approval'" in page.locator(".message").inner_text()
            run = _part2(dep, part1.run_id)
            page.reload()
            assert page.locator(f"section.gate[data-execution='{part1.run_id}']").count() == 0
            assert "bob" in page.locator("table").inner_text()
        finally:
            browser.close()
    assert run.tags["kestra/decided_by"] == "bob" and run.tags["kestra/state"] == "SUCCESS"
    assert _output(dep, run, "promote") == "promoted sha256:200 approved by bob"
    logs = "\n".join(e.user_message for e in dep.instance.all_logs(run.run_id) if e.user_message)
    assert "APPROVED by bob" in logs
    wait_until(lambda: dep.instance.get_run_by_id(part1.run_id).tags.get("kestra/decided_by") == "bob", 10,
               what="the decision mirrored on the paused run")
