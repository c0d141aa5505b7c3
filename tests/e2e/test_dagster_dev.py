"""End to end: ``dagster dev`` over a flows directory, driven through GraphQL and a real browser.

One ``dagster dev -w workspace.yaml`` is started for the whole module, from the repository root,
with a temporary ``DAGSTER_HOME`` holding the instance file ``scripts/dev`` uses (the embedded
SQLite root ``dagster.yaml``; ``deploy/dagster.postgres.yaml`` is the PostgreSQL form), and
``KESTRA_FLOWS_DIR`` pointing at a temporary copy of ``flows/`` plus one broken flow file. A
single server keeps the module well inside its time budget; the copy holds every example flow,
so the example jobs are checked from it just as from ``flows/`` itself.

Checked:

* the code location reaches LOADED; every example flow is a job (``<namespace>__<id>`` with dots
  as underscores), and the broken file is an ``invalid__<stem>`` job next to them;
* ``company_team__hello_world`` launched through GraphQL with ``{"inputs": {"name": "e2e"}}``
  ends SUCCESS and its run carries the tag ``kestra/state: SUCCESS``;
* the job page renders in headless Chromium (screenshot > 10 KB, DOM names the job). Skipped
  without ``/usr/bin/chromium`` locally; a failure when ``CI=true`` (``.ci/run`` installs it).

The server's process group is always terminated (SIGTERM, then SIGKILL) and the test checks that
no process of the group is left.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kd_testing import unavailable
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    # dagster_graphql's client calls gql with arguments gql has deprecated; not ours to fix.
    pytest.mark.filterwarnings("ignore:Using variable_values and operation_name:DeprecationWarning"),
]

REPO = Path(__file__).resolve().parents[2]
LOCATION = "kestra_flows"
REPOSITORY = "__repository__"
HELLO = "company_team__hello_world"
BROKEN_STEM = "broken_flow"
CHROMIUM = Path("/usr/bin/chromium")
LOAD_TIMEOUT_S = 120
RUN_TIMEOUT_S = 90

# A flow file that cannot compile: a task without `type` and an unknown top-level key.
BROKEN_FLOW = """\
id: broken
namespace: company.team
tasks:
  - id: first
    message: "no type here"
not_a_flow_key: 1
"""

WORKSPACE_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name jobs { name description tags { key value } } } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

RUN_QUERY = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status tags { key value } }
    ... on PythonError { message }
  }
}
"""


# ----------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _example_job_names() -> set[str]:
    import yaml

    names = set()
    for file in sorted((REPO / "flows").glob("*.y*ml")):
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        names.add(f"{doc['namespace'].replace('.', '_')}__{doc['id']}")
    return names


def _instance_yaml() -> Path:
    """The SQLite instance settings ``scripts/dev`` runs on (``$DAGSTER_HOME/dagster.yaml`` links to it)."""
    return REPO / "dagster.yaml"


def _group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of a process group, as 'pid cmd' strings."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces, so split after the last ')'.
        comm_end = text.rfind(")")
        fields = text[comm_end + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(f"{stat.parent.name} {text[text.find('(') + 1:comm_end]}")
    return members


def _stop_group(proc: subprocess.Popen, grace_s: float = 20.0) -> list[str]:
    """SIGTERM the group, wait, SIGKILL what is left; return whatever is still alive after that."""
    pgid = proc.pid  # start_new_session=True: the group id is the leader's pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_members(pgid):
            break
        time.sleep(0.25)
    if _group_members(pgid) or proc.poll() is None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 10
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.25)
    return _group_members(pgid)


class DagsterDev:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path, flows_dir: Path):
        self.proc = proc
        self.port = port
        self.log = log
        self.flows_dir = flows_dir
        self.base = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), f"GraphQL errors: {body['errors']}"
        return body["data"]

    def wait_loaded(self, timeout_s: float) -> dict:
        """Poll until the code location is LOADED; return its entry."""
        deadline = time.monotonic() + timeout_s
        last = "webserver not answering yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"dagster dev exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if self.http.get("/server_info").status_code == 200:
                    data = self.graphql(WORKSPACE_QUERY)["workspaceOrError"]
                    entries = {e["name"]: e for e in data.get("locationEntries", [])}
                    entry = entries.get(LOCATION)
                    if entry and entry["loadStatus"] == "LOADED":
                        return entry
                    last = f"location entry: {entry}"
            except (httpx.HTTPError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(1.0)
        pytest.fail(f"code location {LOCATION} not LOADED after {timeout_s} s ({last}):\n{self.log_tail()}")


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dagster_dev")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(_instance_yaml(), home / "dagster.yaml")
    flows = tmp / "flows"
    shutil.copytree(REPO / "flows", flows)
    (flows / f"{BROKEN_STEM}.yaml").write_text(BROKEN_FLOW, encoding="utf-8")
    port = _free_port()
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "KESTRA_FLOWS_DIR": str(flows),
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp / "dagster_dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = DagsterDev(proc, port, log, flows)
    try:
        yield server
    finally:
        server.http.close()
        left = _stop_group(proc)
        assert not left, f"processes left in dagster dev's group after SIGKILL: {left}"


@pytest.fixture(scope="module")
def location(dagster_dev) -> dict:
    started = time.monotonic()
    entry = dagster_dev.wait_loaded(LOAD_TIMEOUT_S)
    print(f"code location LOADED {time.monotonic() - started:.1f} s after the fixture started polling")
    return entry


def _jobs(entry: dict) -> dict[str, dict]:
    loc = entry["locationOrLoadError"]
    assert loc["__typename"] == "RepositoryLocation", f"location failed to load: {loc}"
    repos = {r["name"]: r for r in loc["repositories"]}
    assert REPOSITORY in repos, f"repositories: {list(repos)}"
    return {j["name"]: j for j in repos[REPOSITORY]["jobs"]}


# ----------------------------------------------------------------------------- tests


def test_example_flows_and_broken_flow_are_jobs(location):
    jobs = _jobs(location)
    expected = _example_job_names()
    assert HELLO in expected
    missing = expected - set(jobs)
    assert not missing, f"example flows missing from the location: {sorted(missing)}; jobs: {sorted(jobs)}"
    invalid = f"invalid__{BROKEN_STEM}"
    assert invalid in jobs, f"broken flow not shown as {invalid}; jobs: {sorted(jobs)}"
    broken = jobs[invalid]
    assert "could not be loaded" in (broken["description"] or "")
    assert BROKEN_STEM in broken["description"]
    assert {t["key"]: t["value"] for t in broken["tags"]}.get("kestra/load_error") == "true"
    # Only the broken file is invalid, and the healthy jobs carry the flow's tags.
    assert [n for n in jobs if n.startswith("invalid__")] == [invalid]
    hello_tags = {t["key"]: t["value"] for t in jobs[HELLO]["tags"]}
    assert hello_tags.get("kestra/namespace") == "company.team"
    assert hello_tags.get("kestra/flow_id") == "hello_world"


def test_launch_hello_world_ends_success_with_kestra_state_tag(dagster_dev, location):
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_dev.port, timeout=60)
    run_id = client.submit_job_execution(
        HELLO, repository_location_name=LOCATION, repository_name=REPOSITORY,
        run_config={"inputs": {"name": "e2e"}},
    )
    deadline = time.monotonic() + RUN_TIMEOUT_S
    run: dict = {}
    while time.monotonic() < deadline:
        run = dagster_dev.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]
        if run.get("status") in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1.0)
    assert run.get("status") == "SUCCESS", f"run {run_id} ended {run.get('status')}: {run}\n{dagster_dev.log_tail()}"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags.get("kestra/state") == "SUCCESS", f"run tags: {tags}"
    assert tags.get("kestra/namespace") == "company.team"


def _chromium_or_skip() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    unavailable(f"{CHROMIUM} not installed (apt-get install -y chromium); the UI check needs it")


def _chromium(binary: Path, profile: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    cmd = [
        str(binary), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=20000", *args,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"chromium timed out after {timeout} s: {err.decode(errors='replace')[-2000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its helper processes (zygote, GPU, renderers)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(cmd, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def test_job_page_renders_in_headless_chromium(dagster_dev, location, tmp_path):
    binary = _chromium_or_skip()
    url = f"{dagster_dev.base}/locations/{LOCATION}/jobs/{HELLO}"
    shot = tmp_path / "job.png"
    result = _chromium(binary, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1400,900", url)
    assert shot.exists(), f"no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    size = shot.stat().st_size
    assert size > 10_000, f"screenshot is only {size} bytes: the page looks blank"
    keep = os.environ.get("KESTRA_E2E_SCREENSHOT")
    if keep:  # to look at it: KESTRA_E2E_SCREENSHOT=/tmp/job.png
        shutil.copy(shot, keep)
    dom = _chromium(binary, tmp_path / "profile-dom", "--dump-dom", url)
    assert HELLO in dom.stdout, f"job name not in the rendered DOM ({len(dom.stdout)} chars): {dom.stdout[:1500]}"
