"""The open type registry: families, aliases, duplicates, broken plugins, suggestions."""

from __future__ import annotations

import os
from typing import ClassVar

from kestra_dagster.registry import Registry, get_registry, types_table_markdown
from kestra_dagster.tasks.base import RunnableTask


class _Mine(RunnableTask):
    """A test type."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.debug.Return"


def test_builtin_families_are_registered():
    registry = get_registry()
    assert registry.resolve("io.kestra.plugin.core.log.Log") is not None
    # an old alias resolves to the current class
    assert registry.resolve("io.kestra.core.tasks.debugs.Return").type == "io.kestra.plugin.core.debug.Return"
    assert registry.problems == []


def test_a_type_registered_twice_is_reported_and_the_first_kept():
    registry = Registry()
    registry.add_module("kestra-dagster:core", "kestra_dagster.tasks.core")
    registry.add(_Mine, package="some-plugin")
    assert any("registered twice" in p and "some-plugin" in p for p in registry.problems)
    assert registry.resolve("io.kestra.plugin.core.debug.Return").cls is not _Mine


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_load():
    registry = Registry()
    registry.add_module("broken-plugin:x", "kestra_dagster_no_such_module")
    registry.add_module("kestra-dagster:core", "kestra_dagster.tasks.core")
    assert any("broken-plugin" in p and "failed to import" in p for p in registry.problems)
    assert registry.resolve("io.kestra.plugin.core.log.Log") is not None


def test_suggests_the_closest_type():
    registry = get_registry()
    assert registry.suggest("io.kestra.plugin.core.log.Logg") == "io.kestra.plugin.core.log.Log"
    assert registry.suggest("io.kestra.plugin.core.flow.ForEch") == "io.kestra.plugin.core.flow.ForEach"
    assert registry.suggest("com.example.Completely") is None


def test_readme_types_table_is_in_sync():
    from kd_testing import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    start, end = "<!-- types-table:start -->\n", "<!-- types-table:end -->"
    section = readme.split(start, 1)[1].split(end, 1)[0].strip()
    assert section == types_table_markdown().strip(), (
        "README's supported-types table is stale: run scripts/update-readme-table"
    )


def test_our_families_are_listed_once_in_pyproject_and_a_bare_checkout_reads_them_there():
    """pyproject.toml's entry points are the one list: installed metadata and a bare checkout agree."""
    from importlib.metadata import entry_points

    from kestra_dagster.registry import ENTRY_POINT_GROUP, checkout_families

    installed = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)
                 if getattr(getattr(ep, "dist", None), "name", "") == "kestra-dagster"}
    from_checkout = checkout_families()
    assert from_checkout["core"] == "kestra_dagster.tasks.core"
    assert installed == from_checkout


def test_a_bare_checkout_without_pyproject_has_no_builtin_list(tmp_path):
    from kestra_dagster.registry import checkout_families

    assert checkout_families(tmp_path / "missing.toml") == {}


def test_the_committed_type_index_is_current():
    """Regenerate with ``python -m kestra_dagster.registry --write-index`` when this fails."""
    import json

    from kestra_dagster.registry import TYPE_INDEX, build_index

    assert json.loads(TYPE_INDEX.read_text()) == build_index(), \
        "kestra_dagster/type_index.json is stale: run python -m kestra_dagster.registry --write-index"


def test_a_flow_imports_only_the_families_it_uses(tmp_path):
    """Loading a flow of core types leaves the other families unimported (they cost start-up time)."""
    import subprocess
    import sys

    flow = tmp_path / "hello.yaml"
    flow.write_text("id: hello\nnamespace: company.team\ntasks:\n"
                    "  - {id: hi, type: io.kestra.plugin.core.log.Log, message: hi}\n")
    script = f"""
import os
import sys
from kestra_dagster.model.loader import load_flow_file
load_flow_file({str(flow)!r})
print(sorted(m for m in ("kestra_dagster.tasks.jdbc", "kestra_dagster.tasks.dbt", "kestra_dagster.tasks.cosign",
                         "kestra_dagster.tasks.serdes", "kestra_dagster.tasks.aws", "kestra_dagster.tasks.core")
             if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "['kestra_dagster.tasks.core']"


def test_the_code_location_loads_a_gated_flow_without_sqlalchemy(tmp_path):
    """Gate records need SQLAlchemy only when an op or the resume sensor touches them; loading the
    code location must not pay its ~0.2 s import (approvals.records holds what compiling needs)."""
    import subprocess
    import sys

    (tmp_path / "gated.yaml").write_text("id: gated\nnamespace: company.team\ntasks:\n"
                                         "  - {id: wait, type: io.kestra.plugin.core.flow.Pause}\n"
                                         "  - {id: hi, type: io.kestra.plugin.core.log.Log, message: hi}\n")
    script = """
import sys
import kestra_dagster.definitions as d
assert any(s.name.endswith("__resume") for s in d.defs.sensor_defs), "the gate's resume sensor is built"
print("sqlalchemy" in sys.modules)
"""
    env = {**os.environ, "KESTRA_FLOWS_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_a_core_only_flow_imports_only_the_task_modules_it_names(tmp_path):
    """Resolving ``log.Log`` imports ``tasks/core/log.py``, not the core family's other modules
    (http and httpx among them): the index says which module defines each type."""
    import subprocess
    import sys

    flow = tmp_path / "hello.yaml"
    flow.write_text("id: hello\nnamespace: company.team\ntasks:\n"
                    "  - {id: hi, type: io.kestra.plugin.core.log.Log, message: hi}\n")
    script = f"""
import sys
from kestra_dagster.model.loader import load_flow_file
load_flow_file({str(flow)!r})
print(sorted(m for m in sys.modules if m.startswith("kestra_dagster.tasks.core.")), "httpx" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "['kestra_dagster.tasks.core.log'] False"


def test_every_type_still_resolves_when_its_family_loads_piece_by_piece():
    from kestra_dagster.registry import build_index

    index = build_index()
    registry = get_registry()
    for spelling, where in index["defined_in"].items():
        entry = registry.resolve(spelling)
        assert entry is not None and entry.cls.__module__ == where.rsplit(":", 1)[0], spelling
