"""Flows split across two code locations (one per namespace directory), loaded side by side by a
real ``dagster-webserver``: each location LOADED with only its own flows, as README's "Splitting
flows across code locations" writes it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from .test_dagster_dev import WORKSPACE_QUERY, _free_port, _instance_yaml, _stop_group

pytestmark = pytest.mark.slow

LOCATION_MODULE = """from pathlib import Path

from kestra_dagster import code_location

defs = code_location([Path(__file__).parent / "flows" / "{team}"])
"""
FLOW = "id: {flow}\nnamespace: {ns}\ntasks:\n  - {{id: hi, type: io.kestra.plugin.core.log.Log, message: hi}}\n"


def test_two_code_locations_load_side_by_side(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(_instance_yaml().read_text())
    entries = []
    for team, ns, flow in (("team-a", "company.a", "alpha"), ("team-b", "company.b", "beta")):
        (tmp_path / "flows" / team).mkdir(parents=True)
        (tmp_path / "flows" / team / f"{flow}.yaml").write_text(FLOW.format(flow=flow, ns=ns))
        module = tmp_path / f"{team.replace('-', '_')}.py"
        module.write_text(LOCATION_MODULE.format(team=team))
        entries.append(f"  - python_file:\n      relative_path: {module.name}\n      location_name: {team}\n")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text("load_from:\n" + "".join(entries))
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONUNBUFFERED": "1",
           "KESTRA_FLOWS_DIR": str(tmp_path / "no-such-dir")}  # the default location is not in play
    log = tmp_path / "webserver.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dagster_webserver", "-w", str(workspace), "-h", "127.0.0.1",
                                 "-p", str(port)], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline, last = time.monotonic() + 180, "webserver not answering yet"
            loaded: dict = {}
            while time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
                try:
                    body = http.post("/graphql", json={"query": WORKSPACE_QUERY}).json()
                    found = {e["name"]: e for e in body["data"]["workspaceOrError"]["locationEntries"]}
                    if {n: e["loadStatus"] for n, e in found.items()} == {"team-a": "LOADED", "team-b": "LOADED"}:
                        loaded = found
                        break
                    last = str({n: (e["loadStatus"], e["locationOrLoadError"]) for n, e in found.items()})[:2000]
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                    last = f"{type(exc).__name__}: {exc}"
                time.sleep(1.0)
            assert loaded, f"not both LOADED after 180 s: {last}\n{log.read_text(errors='replace')[-4000:]}"
        jobs = {name: sorted(j["name"] for r in e["locationOrLoadError"]["repositories"] for j in r["jobs"])
                for name, e in loaded.items()}
        assert jobs == {"team-a": ["company_a__alpha"], "team-b": ["company_b__beta"]}
    finally:
        left = _stop_group(proc)
        assert not left, f"processes left behind: {left}"
