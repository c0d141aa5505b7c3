"""The import graph of kestra_dagster: cycles between packages and who reaches Dagster internals.

Read from the source with ``ast`` (nothing is imported), so it is fast and works on a broken tree.
An import under ``if TYPE_CHECKING:`` is ignored (it never runs); an import inside a function
counts: deferring an import hides a cycle from Python, not from the reader.

A *package* is a directory of kestra_dagster (``engine``, ``tasks.scripts``, ``compiler`` …); a
top-level module (``config.py``) is its own package. A cycle is a strongly connected component
of more than one package in the graph "package A imports something from package B".

A module that only keeps an old import path alive declares ``__moved_to__ = "new.path"``; its
imports are not edges (it is not part of the design, only of the upgrade path).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT_PACKAGE = "kestra_dagster"
#: The one module allowed to import ``dagster._*`` (see its docstring).
COMPAT_MODULE = "kestra_dagster.compat"
#: Modules whose imports are listed but not checked (none: keep it that way).
BEING_REWORKED: frozenset[str] = frozenset()


@dataclass
class ImportGraph:
    modules: dict[str, Path] = field(default_factory=dict)  # dotted name → file
    edges: dict[str, set[str]] = field(default_factory=dict)  # module → kestra_dagster modules it imports
    private_dagster: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # module → (line, name)
    shims: dict[str, str] = field(default_factory=dict)  # old module → where it moved

    def package_of(self, module: str) -> str:
        path = self.modules[module]
        if path.name == "__init__.py":
            return module
        parent = module.rsplit(".", 1)[0]
        return module if parent == ROOT_PACKAGE else parent

    def package_edges(self, skip: frozenset[str] = frozenset()) -> dict[str, set[str]]:
        """Package → packages it imports; imports made by the modules in ``skip`` are left out."""
        out: dict[str, set[str]] = {}
        for module, targets in self.edges.items():
            src = self.package_of(module)
            out.setdefault(src, set())
            if module in skip:
                continue
            for target in targets:
                dst = self.package_of(target)
                # A package reaching into its own sub-package (or a sub-package reading its
                # parent's __init__) is one unit, not a cycle between packages.
                if dst != src and not dst.startswith(src + ".") and not src.startswith(dst + "."):
                    out[src].add(dst)
        return out

    def package_cycles(self, skip: frozenset[str] = frozenset()) -> list[list[str]]:
        return [sorted(c) for c in _strongly_connected(self.package_edges(skip)) if len(c) > 1]

    def module_cycles(self) -> list[list[str]]:
        return [sorted(c) for c in _strongly_connected(self.edges) if len(c) > 1]


def build_graph(root: Path | None = None) -> ImportGraph:
    root = root or Path(__file__).resolve().parents[1]
    graph = ImportGraph()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        graph.modules[".".join(parts)] = path
    for module, path in graph.modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        moved_to = _moved_to(tree)
        if moved_to:
            graph.shims[module] = moved_to
            graph.edges[module] = set()
            continue
        seen: set[tuple[int, str]] = set()
        for node, line in _imports(tree):
            for name in _imported_names(node, module, is_package):
                if name.startswith("dagster._") and (line, name.split(".")[0]) not in seen:
                    # one hit per import statement: ``from dagster._x import y`` names the module
                    seen.add((line, name.split(".")[0]))
                    graph.private_dagster.setdefault(module, []).append((line, name))
                if name == ROOT_PACKAGE or name.startswith(ROOT_PACKAGE + "."):
                    resolved = _resolve(name, graph.modules)
                    if resolved and resolved != module:
                        targets.add(resolved)
        graph.edges[module] = targets
    return graph


def _moved_to(tree: ast.Module) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__moved_to__" for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    return None


def _imports(tree: ast.AST):
    """Every import node, skipping ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, node.lineno
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".")
        if not is_package:
            anchor = anchor[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    # ``from pkg import name``: name may be a submodule or an attribute; both are recorded and
    # resolution keeps the longest existing module.
    return [base] + [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name:
        if name in modules:
            return name
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return None


def _strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (the graph has a few hundred nodes)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[set[str]] = []
    counter = 0
    nodes = set(edges) | {t for ts in edges.values() for t in ts}
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                result.append(component)
    return result


def report(graph: ImportGraph, allowed_private: frozenset[str] = frozenset(),
           skip_edges_of: frozenset[str] = frozenset()) -> tuple[str, bool]:
    """Human-readable report and whether the tree is clean.

    ``allowed_private`` may import ``dagster._*``; the imports of ``skip_edges_of`` do not count
    as edges (both for modules being reworked elsewhere, listed so they stay visible).
    """
    lines: list[str] = []
    ok = True
    cycles = graph.package_cycles(skip_edges_of)
    lines.append(f"packages: {len({graph.package_of(m) for m in graph.modules})}, modules: {len(graph.modules)}, "
                 f"old-path shims: {len(graph.shims)}")
    if cycles:
        ok = False
        lines.append(f"import cycles between packages: {len(cycles)}")
        edges = graph.package_edges(skip_edges_of)
        for cycle in cycles:
            lines.append("  cycle: " + " ↔ ".join(cycle))
            members = set(cycle)
            for src in cycle:
                for dst in sorted(edges[src] & members):
                    via = sorted(
                        f"{m} → {t}" for m, ts in graph.edges.items()
                        if graph.package_of(m) == src and m not in skip_edges_of
                        for t in ts if graph.package_of(t) == dst
                    )
                    lines.append(f"    {src} → {dst}: " + "; ".join(via[:4]) + (" …" if len(via) > 4 else ""))
    else:
        lines.append("import cycles between packages: none")
    for module in sorted(skip_edges_of & set(graph.modules)):
        lines.append(f"imports not checked (being reworked): {module}")
    outside = {m: hits for m, hits in graph.private_dagster.items() if m != COMPAT_MODULE}
    for module in sorted(outside):
        hits = ", ".join(f"line {line}: {name}" for line, name in outside[module])
        if module in allowed_private:
            lines.append(f"dagster._* outside compat (allowed for now): {module}: {hits}")
        else:
            ok = False
            lines.append(f"dagster._* outside compat: {module}: {hits}")
    if not any(m not in allowed_private for m in outside):
        lines.append(f"dagster._* imports: only {COMPAT_MODULE}")
    return "\n".join(lines), ok
