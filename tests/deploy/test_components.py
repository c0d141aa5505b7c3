"""KestraFlowComponent in a Dagster project (dg CLI), and the plain ``load_flows`` entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kd_testing import unavailable
from deploy_helpers import FLOWS

pytestmark = pytest.mark.timeout(240)

PYPROJECT = """\
[project]
name = "kd-demo"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["dagster", "kestra-dagster"]

[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "kd_demo"
"""

DEFINITIONS = """\
from pathlib import Path

from dagster import definitions, load_from_defs_folder


@definitions
def defs():
    return load_from_defs_folder(path_within_project=Path(__file__).parent)
"""

NIGHTLY = """\
id: nightly
namespace: deploy.tests
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "nightly {{ trigger.date }} {{ outputs.missing ?? 'none' }}"
triggers:
  - id: every_night
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 2 * * *"
"""


def _dg() -> str:
    dg = Path(sys.executable).with_name("dg")
    if not dg.exists():
        unavailable("dagster-dg-cli is not installed (pip install -e '.[test]')")
    return str(dg)


def _project(root: Path) -> Path:
    """The layout `create-dagster project` makes, with the component's defs.yaml and flows."""
    pkg = root / "src" / "kd_demo"
    (pkg / "defs" / "kestra" / "flows").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (pkg / "__init__.py").write_text("")
    (pkg / "defs" / "__init__.py").write_text("")
    (pkg / "definitions.py").write_text(DEFINITIONS)
    (pkg / "defs" / "kestra" / "defs.yaml").write_text(
        "type: kestra_dagster.components.KestraFlowComponent\nattributes:\n  flows_dir: flows\n")
    shutil.copy(FLOWS / "deploy_check.yaml", pkg / "defs" / "kestra" / "flows")
    (pkg / "defs" / "kestra" / "flows" / "nightly.yaml").write_text(NIGHTLY)
    return root


def _run(argv, cwd, env):
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, f"{argv}: {out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def test_dg_check_list_and_scaffold(tmp_path):
    dg = _dg()
    root = _project(tmp_path / "proj")
    # the active environment (this venv), with the project's sources importable
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "VIRTUAL_ENV": str(Path(sys.executable).parent.parent),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    env.pop("DAGSTER_HOME", None)
    components = json.loads(_run([dg, "list", "components", "--json"], root, env))["items"]
    assert "kestra_dagster.components.KestraFlowComponent" in [c["key"] for c in components]
    _run([dg, "scaffold", "defs", "kestra_dagster.components.KestraFlowComponent", "more_flows"], root, env)
    scaffolded = root / "src" / "kd_demo" / "defs" / "more_flows"
    assert "flows_dir: flows" in (scaffolded / "defs.yaml").read_text()
    assert (scaffolded / "flows" / "hello_world.yaml").exists()
    out = _run([dg, "check", "defs"], root, env)
    assert "All definitions loaded successfully" in out
    listed = json.loads(_run([dg, "list", "defs", "--json"], root, env))
    assert {j["name"] for j in listed["jobs"]} == {"deploy_tests__deploy_check", "deploy_tests__nightly",
                                                    "company_team__hello_world"}
    assert [s["name"] for s in listed["schedules"]] == ["deploy_tests__nightly__every_night"]
    # Kestra expressions were never rendered by the component's Jinja: the job runs them itself
    assert not any(j["name"].startswith("invalid__") for j in listed["jobs"])


def test_load_flows_merges_into_user_definitions():
    import dagster as dg

    from kestra_dagster.components import load_flows

    @dg.op
    def mine():
        return 1

    @dg.job
    def my_job():
        mine()

    defs = dg.Definitions.merge(dg.Definitions(jobs=[my_job]), load_flows(FLOWS))
    names = {j.name for j in defs.resolve_all_job_defs()}
    assert {"my_job", "deploy_tests__deploy_check"} <= names
    result = defs.resolve_job_def("deploy_tests__deploy_check").execute_in_process(
        run_config={"inputs": {"name": "merged"}}, raise_on_error=False)
    assert result.success
