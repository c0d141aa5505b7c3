"""A real ``dagster-webserver`` reloading a code location: with no flow changed, the new code
server answers the repository's and every job's snapshot from the cache (entries read, not
rewritten) and the jobs still open; an edited flow misses the cache and shows its new task."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .test_dagster_dev import RUN_QUERY, WORKSPACE_QUERY, _free_port, _instance_yaml, _stop_group
from .test_ui_runs import LAUNCH

pytestmark = pytest.mark.slow

LOCATION = "flows_here"
FLOW = "id: {flow}\nnamespace: company.reload\ntasks:\n{tasks}"
TASK = "  - {{id: {id}, type: io.kestra.plugin.core.log.Log, message: hi}}\n"
RELOAD = """
mutation ($name: String!) {
  reloadRepositoryLocation(repositoryLocationName: $name) { __typename }
}
"""
JOB_OPS = """
query ($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    __typename
    ... on Pipeline { solidHandles { handleID } }
    ... on PythonError { message }
  }
}
"""


def _loaded(http: httpx.Client, proc: subprocess.Popen, log: Path) -> dict:
    deadline, last = time.monotonic() + 180, "webserver not answering yet"
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
        try:
            body = http.post("/graphql", json={"query": WORKSPACE_QUERY}).json()
            (entry,) = [e for e in body["data"]["workspaceOrError"]["locationEntries"] if e["name"] == LOCATION]
            if entry["loadStatus"] == "LOADED" and entry["locationOrLoadError"]["__typename"] == "RepositoryLocation":
                return {j["name"] for r in entry["locationOrLoadError"]["repositories"] for j in r["jobs"]}
            last = str(entry)[:2000]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    raise AssertionError(f"not LOADED after 180 s: {last}\n{log.read_text(errors='replace')[-4000:]}")


def _ops(http: httpx.Client, job: str) -> list[str]:
    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "pipelineName": job}
    result = http.post("/graphql", json={"query": JOB_OPS, "variables": {"selector": selector}}).json()
    found = result["data"]["pipelineOrError"]
    assert found["__typename"] == "Pipeline", found
    return sorted(h["handleID"] for h in found["solidHandles"])


def _launch(http: httpx.Client, job: str) -> str:
    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "pipelineName": job}
    answer = http.post("/graphql", json={"query": LAUNCH, "variables": {"params": {
        "selector": selector, "runConfigData": {}, "mode": "default"}}}).json()["data"]["launchPipelineExecution"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = http.post("/graphql", json={"query": RUN_QUERY, "variables": {"runId": answer["run"]["runId"]}}).json()
        status = run["data"]["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(0.5)
    raise AssertionError(f"run still {status} after 120 s")


def _reload(http: httpx.Client) -> None:
    answer = http.post("/graphql", json={"query": RELOAD, "variables": {"name": LOCATION}}).json()
    assert answer["data"]["reloadRepositoryLocation"]["__typename"] == "WorkspaceLocationEntry", answer


def test_a_reload_with_no_flow_changed_answers_from_the_snapshot_cache(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(_instance_yaml().read_text())
    flows = tmp_path / "flows"
    flows.mkdir()
    for flow in ("alpha", "beta"):
        (flows / f"{flow}.yaml").write_text(FLOW.format(flow=flow, tasks=TASK.format(id="hi")))
    (tmp_path / "location.py").write_text(
        "from pathlib import Path\nfrom kestra_dagster import code_location\n"
        "defs = code_location([Path(__file__).parent / 'flows'])\n")
    (tmp_path / "workspace.yaml").write_text(
        f"load_from:\n  - python_file:\n      relative_path: location.py\n      location_name: {LOCATION}\n")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "webserver.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml", "-h", "127.0.0.1",
                                 "-p", str(port)], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    snapshots = home / ".kestra-cache" / "snapshots"
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            assert _loaded(http, proc, log) == {"company_reload__alpha", "company_reload__beta"}
            # the first load stored what it built: the repository's snapshot and each job's
            entries = {p: p.stat() for p in snapshots.glob("*.json")}
            assert len(entries) == 3 and len(list(snapshots.glob("*-refs.json"))) == 1

            time.sleep(1.1)  # a read is seen by the entry's mtime
            _reload(http)
            assert _loaded(http, proc, log) == {"company_reload__alpha", "company_reload__beta"}
            assert set(snapshots.glob("*.json")) == set(entries)
            for path, before in entries.items():  # every answer read, none rewritten
                after = path.stat()
                assert after.st_ino == before.st_ino and after.st_mtime > before.st_mtime, path.name
            assert _ops(http, "company_reload__alpha") == ["hi", "kestra_end", "kestra_start"]
            # a launched run builds its job, which matches the snapshot the webserver was given
            assert _launch(http, "company_reload__alpha") == "SUCCESS"

            # an edited flow is a new key: its new task shows after the reload, the old entries go
            (flows / "beta.yaml").write_text(FLOW.format(flow="beta", tasks=TASK.format(id="hi") + TASK.format(id="bye")))
            _reload(http)
            assert _loaded(http, proc, log) == {"company_reload__alpha", "company_reload__beta"}
            assert _ops(http, "company_reload__beta") == ["bye", "hi", "kestra_end", "kestra_start"]
            assert len(list(snapshots.glob("*.json"))) == 3 and not set(snapshots.glob("*.json")) & set(entries)
    finally:
        left = _stop_group(proc)
        assert not left, f"processes left behind: {left}"
