"""The open registry of task and trigger types.

Every family of types (ours included) is a module listed under the entry-point group
``kestra_dagster.plugins``; the module exposes ``TASKS`` (and optionally ``TRIGGERS``), lists of
model classes that set ``kestra_type``/``kestra_aliases``. ``pip install`` of a package that
declares the group adds types without touching this project. A family that fails to import, or
a type registered twice, is reported (``Registry.problems``) and the rest still load.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Iterable

from kestra_dagster.model.aliases import canonical_type

ENTRY_POINT_GROUP = "kestra_dagster.plugins"
#: Our own families, loaded even when the package metadata is not installed (e.g. a bare checkout).
BUILTIN_FAMILIES = {
    "core": "kestra_dagster.tasks.core",
    "scripts": "kestra_dagster.tasks.scripts",
    "triggers": "kestra_dagster.triggers",
    "approvals": "kestra_dagster.approvals",
    "docker": "kestra_dagster.tasks.docker",
    "trivy": "kestra_dagster.tasks.trivy",
    "cosign": "kestra_dagster.tasks.cosign",
    "notifications": "kestra_dagster.tasks.notifications",
    "git": "kestra_dagster.tasks.git",
    "fs": "kestra_dagster.triggers.local_files",
    "aws": "kestra_dagster.tasks.aws",
    "gcp": "kestra_dagster.tasks.gcp",
    "azure": "kestra_dagster.tasks.azure",
    "dbt": "kestra_dagster.tasks.dbt",
    "ansible": "kestra_dagster.tasks.ansible",
}


@dataclass
class TypeEntry:
    type: str
    cls: type
    package: str
    aliases: tuple[str, ...]
    kind: str  # "task" | "trigger"

    @property
    def summary(self) -> str:
        doc = (self.cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""


@dataclass
class Registry:
    entries: dict[str, TypeEntry] = field(default_factory=dict)
    by_alias: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add_module(self, package: str, module_name: str) -> None:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a broken plugin must not take the others down
            self.problems.append(f"plugin {package!r} ({module_name}) failed to import: {exc}")
            return
        for kind, attr in (("task", "TASKS"), ("trigger", "TRIGGERS")):
            for cls in getattr(module, attr, ()) or ():
                self.add(cls, package=package, kind=kind)

    def add(self, cls: type, package: str, kind: str = "task") -> None:
        kestra_type = getattr(cls, "kestra_type", "")
        if not kestra_type:
            self.problems.append(f"plugin {package!r}: {cls.__name__} has no kestra_type")
            return
        if kestra_type in self.entries and self.entries[kestra_type].cls is not cls:
            other = self.entries[kestra_type].package
            self.problems.append(
                f"type {kestra_type} is registered twice (by {other!r} and {package!r}); keeping {other!r}'s"
            )
            return
        # Only aliases the class declares itself: a subclass (GitLabWebhook of Webhook) is
        # another type and must not inherit its parent's old names.
        aliases = tuple(vars(cls).get("kestra_aliases", ()))
        self.entries[kestra_type] = TypeEntry(kestra_type, cls, package, aliases, kind)
        for alias in aliases:
            if alias in self.by_alias and self.by_alias[alias] != kestra_type:
                self.problems.append(f"alias {alias} of {kestra_type} ({package}) already names {self.by_alias[alias]}")
                continue
            self.by_alias[alias] = kestra_type

    def resolve(self, type_name: str) -> TypeEntry | None:
        name = self.by_alias.get(type_name, type_name)
        entry = self.entries.get(name)
        if entry is None:
            name = canonical_type(name)
            entry = self.entries.get(self.by_alias.get(name, name))
        return entry

    def suggest(self, type_name: str, kind: str = "task") -> str | None:
        names = [t for t, e in self.entries.items() if e.kind == kind]
        # Compare on the short class name first: typos are usually there.
        short = {n.rsplit(".", 1)[-1].lower(): n for n in names}
        hit = difflib.get_close_matches(type_name.rsplit(".", 1)[-1].lower(), list(short), n=1, cutoff=0.75)
        if hit:
            return short[hit[0]]
        full = difflib.get_close_matches(type_name, names, n=1, cutoff=0.8)
        return full[0] if full else None

    def of_kind(self, kind: str) -> Iterable[TypeEntry]:
        return (e for e in self.entries.values() if e.kind == kind)


_lock = threading.Lock()
_default: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built once from entry points plus our built-in families."""
    global _default
    with _lock:
        if _default is None:
            registry = Registry()
            seen: set[str] = set()
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                seen.add(ep.value)
                dist = getattr(getattr(ep, "dist", None), "name", None) or ep.name
                registry.add_module(f"{dist}:{ep.name}", ep.value)
            for name, module in BUILTIN_FAMILIES.items():
                if module not in seen:
                    registry.add_module(f"kestra-dagster:{name}", module)
            _default = registry
        return _default


def reset_registry() -> None:
    """Forget the cached registry (tests that install plugins call this)."""
    global _default
    with _lock:
        _default = None


def types_table_markdown(registry: Registry | None = None) -> str:
    """The README's table of supported types, generated so it cannot drift from the code."""
    registry = registry or get_registry()
    lines = ["| kind | type | aliases | what it does |", "|---|---|---|---|"]
    for e in sorted(registry.entries.values(), key=lambda e: (e.kind, e.type)):
        aliases = "<br>".join(f"`{a}`" for a in e.aliases)
        lines.append(f"| {e.kind} | `{e.type}` | {aliases} | {e.summary} |")
    return "\n".join(lines)
