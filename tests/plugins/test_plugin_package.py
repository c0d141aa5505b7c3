"""The plugin mechanism end to end: pip-install examples/plugin-example, list, schema, run a flow.

The package is installed with ``pip install --no-deps --target <tmp>`` (a copy of the example, so
the source tree stays clean) and put on ``sys.path``/``PYTHONPATH``: exactly what an installed
distribution looks like to ``importlib.metadata``, without touching the project's venv (other
tests running at the same time must not see the example's types).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kestra_dagster.registry import get_registry, reset_registry

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "plugin-example"
CLI = [sys.executable, "-m", "kestra_dagster.cli"]


def _forget_modules(prefixes: tuple[str, ...]) -> None:
    for name in list(sys.modules):
        if name.startswith(prefixes):
            del sys.modules[name]


@pytest.fixture(scope="module")
def example_site(tmp_path_factory):
    work = tmp_path_factory.mktemp("plugin-example")
    source = work / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    site = work / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(f"pip install of the example plugin failed:\n{proc.stdout}\n{proc.stderr}")
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    reset_registry()
    yield site
    sys.path.remove(str(site))
    _forget_modules(("kestra_dagster_example",))
    importlib.invalidate_caches()
    reset_registry()


def _env(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def test_installed_plugin_types_are_registered_listed_and_in_the_schema(example_site):
    registry = get_registry()
    entry = registry.resolve("io.example.greetings.Greet")
    assert entry is not None and entry.package == "kestra-dagster-example-plugin:greetings"
    assert registry.resolve("io.example.Greet").type == "io.example.greetings.Greet"  # alias
    assert registry.problems == [] or all("example" not in p for p in registry.problems)

    listed = subprocess.run([*CLI, "plugins", "--json"], capture_output=True, text=True, env=_env(example_site), timeout=120)
    rows = {row["type"]: row for row in json.loads(listed.stdout)}
    assert rows["io.example.greetings.Greet"]["package"] == "kestra-dagster-example-plugin:greetings"
    assert rows["io.example.greetings.Greet"]["aliases"] == ["io.example.Greet"]
    assert rows["io.example.greetings.Greet"]["description"].startswith("Say hello")

    from kestra_dagster.model.schema import flow_json_schema

    defs = flow_json_schema()["$defs"]
    assert defs["io_example_greetings_Greet"]["properties"]["type"]["enum"] == ["io.example.greetings.Greet", "io.example.Greet"]
    assert "name" in defs["io_example_greetings_Greet"]["required"]


def test_a_flow_using_the_plugin_runs(example_site, tmp_path):
    env = _env(example_site)
    env["KESTRA_STORAGE_PATH"] = str(tmp_path / "storage")
    proc = subprocess.run([*CLI, "run", str(EXAMPLE / "flows" / "greet.yaml"), "--input", "user=Ada", "--json"],
                          capture_output=True, text=True, env=env, timeout=180)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["state"] == "SUCCESS", proc.stderr[-3000:]
    assert result["outputs"]["hello"]["message"] == "Hello, Ada!"
    assert result["outputs"]["shout"]["length"] == len("HELLO, ADA!")
    assert result["outputs"]["shout"]["uri"].startswith("kestra:///company/team/greet/")


def test_validate_suggests_the_plugin_type_for_a_typo(example_site, tmp_path):
    from kestra_dagster.model.loader import load_flow_file

    flow = tmp_path / "typo.yaml"
    flow.write_text("id: typo\nnamespace: company.team\ntasks:\n  - id: hi\n    type: io.example.greetings.Gret\n    name: x\n")
    [unsupported] = load_flow_file(flow).unsupported
    assert unsupported.suggestion == "io.example.greetings.Greet"
    assert "did you mean io.example.greetings.Greet?" in unsupported.message()


def _fake_dist(site: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[kestra_dagster.plugins]\n{entry_points}\n")
    for module, code in modules.items():
        (site / f"{module}.py").write_text(code)


def test_broken_and_duplicate_plugins_are_reported_by_package_and_the_rest_load(example_site, tmp_path):
    site = tmp_path / "site"
    _fake_dist(site, "broken-plugin", "broken = broken_plugin_mod", {"broken_plugin_mod": "raise RuntimeError('boom at import')\n"})
    _fake_dist(site, "dup-plugin", "dup = dup_plugin_mod", {"dup_plugin_mod": (
        "from typing import ClassVar\n"
        "from kestra_dagster.tasks.base import RunnableTask\n"
        "class Log(RunnableTask):\n"
        "    '''A second Log.'''\n"
        "    kestra_type: ClassVar[str] = 'io.kestra.plugin.core.log.Log'\n"
        "TASKS = [Log]\n")})
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    reset_registry()
    try:
        registry = get_registry()
        problems = "\n".join(registry.problems)
        assert "plugin 'broken-plugin:broken' (broken_plugin_mod) failed to import: boom at import" in problems
        assert "type io.kestra.plugin.core.log.Log is registered twice" in problems and "'dup-plugin:dup'" in problems
        assert registry.resolve("io.kestra.plugin.core.log.Log").package == "kestra-dagster:core"
        assert registry.resolve("io.example.greetings.Greet") is not None  # the others still load

        listed = subprocess.run([*CLI, "plugins"], capture_output=True, text=True, env=_env(site, example_site), timeout=120)
        assert listed.returncode == 0
        assert "io.example.greetings.Greet" in listed.stdout
        assert "problem: plugin 'broken-plugin:broken'" in listed.stderr
    finally:
        sys.path.remove(str(site))
        _forget_modules(("broken_plugin_mod", "dup_plugin_mod"))
        importlib.invalidate_caches()
        reset_registry()
