"""The architecture holds: no import cycle between packages, Dagster internals only in compat.py.

Read from the source (``kestra_dagster.devtools.imports``), so this runs in milliseconds.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from kestra_dagster.devtools.imports import BEING_REWORKED, COMPAT_MODULE, build_graph, report

# Nothing is exempt any more; the name stays so a future rework can list modules for a while.
ALLOWED_FOR_NOW = BEING_REWORKED


def test_no_import_cycle_between_packages():
    graph = build_graph()
    cycles = graph.package_cycles(skip=ALLOWED_FOR_NOW)
    assert cycles == [], report(graph, ALLOWED_FOR_NOW, ALLOWED_FOR_NOW)[0]


def test_only_compat_imports_dagster_internals():
    graph = build_graph()
    stray = {m: hits for m, hits in graph.private_dagster.items() if m != COMPAT_MODULE and m not in ALLOWED_FOR_NOW}
    assert stray == {}
    assert COMPAT_MODULE in graph.private_dagster


def test_the_cycles_the_issue_named_are_gone():
    cycles = [set(c) for c in build_graph().module_cycles()]
    for pair in (
        {"kestra_dagster.namespace_files", "kestra_dagster.tasks.scripts._exec"},
        {"kestra_dagster.expressions.filters", "kestra_dagster.expressions.jq"},
        {"kestra_dagster.engine.storage", "kestra_dagster.engine.storage_s3"},
        {"kestra_dagster.model", "kestra_dagster.registry"},
    ):
        assert not any(pair <= c for c in cycles), pair


def test_families_take_the_shared_toolkit_from_the_sdk():
    """The helpers that moved to ``kestra_dagster.sdk`` are not imported from their old private homes.

    (``tasks.scripts._exec`` still hosts ``AbstractExecScript``, which script-like families extend.)
    """
    import ast

    moved = {
        "kestra_dagster.tasks.scripts._exec": {"as_list", "as_text", "glob_regex"},
        "kestra_dagster.tasks.scripts._process": None,  # everything: it is sdk.process now
        "kestra_dagster.tasks.docker._common": None,
        "kestra_dagster.tasks.docker._container": None,
    }
    graph = build_graph()
    offenders = []
    for module, path in graph.modules.items():
        if module in graph.shims or module.startswith("kestra_dagster.tasks.scripts"):
            continue  # the scripts family's own modules may use its private ones
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in moved:
                names = {a.name for a in node.names}
                if moved[node.module] is None or names & moved[node.module]:
                    offenders.append(f"{module}: from {node.module} import {', '.join(sorted(names))}")
    assert offenders == [], f"import these from kestra_dagster.sdk instead: {offenders}"


def test_the_checker_finds_a_cycle_and_a_private_import(tmp_path):
    root = tmp_path / "kestra_dagster"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "__init__.py").write_text("")
    (root / "a" / "__init__.py").write_text("from kestra_dagster.b import thing\n")
    (root / "b" / "__init__.py").write_text(textwrap.dedent("""
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from kestra_dagster.c import never_runs
        def thing():
            from kestra_dagster.a import x  # deferred, still a cycle
            import dagster._core.utils
    """))
    (root / "c.py").write_text("import kestra_dagster.a\n")
    (root / "old.py").write_text('from kestra_dagster.a import x\n__moved_to__ = "kestra_dagster.a"\n')
    graph = build_graph(root)
    assert graph.package_cycles() == [["kestra_dagster.a", "kestra_dagster.b"]]
    assert [name for _, name in graph.private_dagster["kestra_dagster.b"]] == ["dagster._core.utils"]
    assert graph.shims == {"kestra_dagster.old": "kestra_dagster.a"} and graph.edges["kestra_dagster.old"] == set()
    text, ok = report(graph)
    assert not ok and "kestra_dagster.a ↔ kestra_dagster.b" in text and "dagster._* outside compat" in text


def test_the_command_line_reports_a_clean_tree():
    result = subprocess.run([sys.executable, "-m", "kestra_dagster.devtools", "imports"], capture_output=True,
                            text=True, timeout=60, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "import cycles between packages: none" in result.stdout
    assert f"dagster._* imports: only {COMPAT_MODULE}" in result.stdout
