"""``io.kestra.plugin.scripts.node.Script``/``Commands``: Node.js from this machine (Debian's
nodejs) and in the default ``node`` image; ``@kestra-io/libs`` from npm emits outputs and metrics."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from kd_testing import unavailable

from kestra_dagster.compiler.runner_cli import run_flow_file

FLOWS = Path(__file__).parent / "flows"


def _need_node_and_npm(tmp_path: Path) -> None:
    if not shutil.which("node") or not shutil.which("npm"):
        unavailable("node/npm are not installed (apt-get install nodejs npm)")
    probe = subprocess.run(["npm", "view", "@kestra-io/libs", "version"], capture_output=True, text=True, timeout=120,
                           cwd=tmp_path)
    if probe.returncode != 0:
        unavailable(f"the npm registry does not answer: {probe.stderr[-300:]}")


def test_node_script_with_kestra_libs_and_commands(tmp_path):
    _need_node_and_npm(tmp_path)
    result = run_flow_file(str(FLOWS / "scripts_node.yaml"), {})
    assert result["state"] == "SUCCESS", result
    assert result["outputs"]["libs"]["vars"] == {"node": True, "from": "libs"}
    assert result["metrics"]["libs"] == [
        {"name": "records", "type": "counter", "value": 5, "count": 2, "tags": {"source": "api"}},
        {"name": "fetch", "type": "timer", "value": 0.5, "count": 1, "tags": {}},
    ]
    assert result["outputs"]["commands"]["vars"] == {"args": ["a", "b"]}


def test_node_script_runs_in_the_default_image(default_images, docker_by_default):
    result = run_flow_file(str(FLOWS / "scripts_node_default_image.yaml"), {})
    assert result["state"] == "SUCCESS", result
    assert result["outputs"]["in_image"]["vars"] == {"image": True}
