"""git.PushFlows / SyncFlows / PushNamespaceFiles / SyncNamespaceFiles against a local bare repo:
the flows directory (``KESTRA_FLOWS_DIR``, what the code location loads) and namespace files."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from kd_testing import unavailable
from kestra_dagster.compiler.definitions import load_catalog
from kestra_dagster.compiler.runner_cli import run_flow_file
from kestra_dagster.namespace_files import NamespaceFiles

GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True).stdout


def flow_yaml(namespace: str, flow_id: str, message: str = "hi") -> str:
    return (f"id: {flow_id}\nnamespace: {namespace}\ntasks:\n  - id: log\n"
            f"    type: io.kestra.plugin.core.log.Log\n    message: {message}\n")


@pytest.fixture(autouse=True)
def _git_installed():
    if shutil.which("git") is None:
        unavailable("git is not installed (apt-get install git)")


@pytest.fixture
def bare(tmp_path) -> str:
    path = tmp_path / "remote.git"
    git("init", "-q", "--bare", "-b", "main", str(path))
    return f"file://{path}"


@pytest.fixture
def flows(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "flows"
    (root / "team").mkdir(parents=True)
    (root / "team" / "hello.yaml").write_text(flow_yaml("company.team", "hello"))
    (root / "sub.yml").write_text(flow_yaml("company.team.sub", "child"))
    (root / "other.yml").write_text(flow_yaml("other.ns", "other"))
    monkeypatch.setenv("KESTRA_FLOWS_DIR", str(root))
    return root


def run(tmp_path, name: str, body: str) -> dict:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"id: {name}\nnamespace: company.team\ntasks:\n{body}")
    return run_flow_file(str(path), {})


def test_push_flows_then_sync_them_into_another_flows_directory(tmp_path, bare, flows, monkeypatch):
    before = set(Path(tempfile.gettempdir()).glob("kestra-gitsync-*"))
    result = run(tmp_path, "push", f"""
  - id: push
    type: io.kestra.plugin.git.PushFlows
    url: {bare}
    targetNamespace: prod.team
    includeChildNamespaces: true
    authorEmail: bot@example.com
    authorName: Bot
""")
    assert result["state"] == "SUCCESS", result
    out = result["outputs"]["push"]
    assert len(out["commitId"]) == 40 and out["flows"].startswith("kestra://")
    tree = git("--git-dir", bare[7:], "ls-tree", "-r", "--name-only", "main").split()
    assert tree == ["_flows/hello.yml", "_flows/sub/child.yml"]
    assert "namespace: prod.team.sub" in git("--git-dir", bare[7:], "show", "main:_flows/sub/child.yml")
    assert "Bot <bot@example.com>" in git("--git-dir", bare[7:], "log", "-1", "--format=%an <%ae>")

    # a second push with nothing new commits nothing
    again = run(tmp_path, "push", f"""
  - id: push
    type: io.kestra.plugin.git.PushFlows
    url: {bare}
    targetNamespace: prod.team
    includeChildNamespaces: true
""")
    assert again["outputs"]["push"]["commitId"] is None

    # sync into an empty flows directory: the flows appear when the code location loads again
    target = tmp_path / "prod-flows"
    target.mkdir()
    (target / "stale.yml").write_text(flow_yaml("prod.team", "stale"))
    monkeypatch.setenv("KESTRA_FLOWS_DIR", str(target))
    assert set(load_catalog([target]).flows) == {"prod.team.stale"}
    result = run(tmp_path, "sync", f"""
  - id: sync
    type: io.kestra.plugin.git.SyncFlows
    url: {bare}
    targetNamespace: prod.team
    includeChildNamespaces: true
    delete: true
""")
    assert result["state"] == "SUCCESS", result
    assert set(load_catalog([target]).flows) == {"prod.team.hello", "prod.team.sub.child"}
    assert (target / "prod.team" / "hello.yml").read_text().startswith("id: hello\nnamespace: prod.team\n")
    assert set(Path(tempfile.gettempdir()).glob("kestra-gitsync-*")) == before  # clones are removed


def test_sync_flows_rejects_an_invalid_flow_and_changes_nothing(tmp_path, bare, flows, capfd):
    seed = tmp_path / "seed"
    git("clone", "-q", bare, str(seed))
    (seed / "_flows").mkdir()
    (seed / "_flows" / "good.yml").write_text(flow_yaml("x", "good"))
    (seed / "_flows" / "bad.yml").write_text("id: bad\nnamespace: x\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    retry: {type: linear}\n")
    git("add", ".", cwd=seed)
    git("commit", "-qm", "flows", cwd=seed)
    git("push", "-q", "origin", "HEAD:main", cwd=seed)
    listing = sorted(p.name for p in flows.rglob("*"))
    result = run(tmp_path, "sync_bad", f"""
  - id: sync
    type: io.kestra.plugin.git.SyncFlows
    url: {bare}
""")
    assert result["state"] == "FAILED"
    logs = "".join(capfd.readouterr())
    assert "invalid flow in Git (branch main), nothing synced: _flows/bad.yml:4:5: tasks[0].message" in logs
    assert sorted(p.name for p in flows.rglob("*")) == listing


def test_missing_repository_fails_clearly(tmp_path, flows, capfd):
    result = run(tmp_path, "sync_missing", f"""
  - id: sync
    type: io.kestra.plugin.git.SyncFlows
    url: file://{tmp_path}/no-such-repo.git
""")
    assert result["state"] == "FAILED"
    logs = "".join(capfd.readouterr())
    assert "no-such-repo.git" in logs and ("not found" in logs or "does not appear" in logs)


def test_push_and_sync_namespace_files(tmp_path, bare, monkeypatch):
    root = tmp_path / "nsfiles"
    monkeypatch.setenv("KESTRA_NAMESPACE_FILES_DIR", str(root))
    store = NamespaceFiles(root)
    store.write("company.team", "scripts/etl.py", b"print('etl')\n")
    store.write("company.team", "queries/q.sql", b"select 1\n")
    result = run(tmp_path, "push_files", f"""
  - id: push
    type: io.kestra.plugin.git.PushNamespaceFiles
    url: {bare}
    files: ["scripts/**"]
""")
    assert result["state"] == "SUCCESS", result
    assert git("--git-dir", bare[7:], "ls-tree", "-r", "--name-only", "main").split() == ["_files/scripts/etl.py"]

    result = run(tmp_path, "sync_files", f"""
  - id: sync
    type: io.kestra.plugin.git.SyncNamespaceFiles
    url: {bare}
    namespace: prod.team
""")
    assert result["state"] == "SUCCESS", result
    assert store.read("prod.team", "scripts/etl.py") == b"print('etl')\n"

    result = run(tmp_path, "push_missing", f"""
  - id: push
    type: io.kestra.plugin.git.PushNamespaceFiles
    url: {bare}
    files: ["nothing/**"]
    errorOnMissing: true
""")
    assert result["state"] == "FAILED"


def test_deprecated_push_with_flows_adds_the_namespace_flows(tmp_path, bare, flows):
    result = run(tmp_path, "push_old", f"""
  - id: push
    type: io.kestra.plugin.git.Push
    url: {bare}
    branch: main
    commitMessage: flows
    flows: {{enabled: true}}
""")
    assert result["state"] == "SUCCESS", result
    tree = git("--git-dir", bare[7:], "ls-tree", "-r", "--name-only", "main").split()
    assert tree == ["_flows/hello.yml", "_flows/sub/child.yml"]
