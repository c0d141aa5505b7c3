"""The open registry of task, trigger and condition types.

Every family of types (ours included) is a module listed under the entry-point group
``kestra_dagster.plugins``; the module exposes ``TASKS`` (and optionally ``TRIGGERS`` and
``CONDITIONS``), lists of
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
from pathlib import Path
from typing import Iterable

from kestra_dagster.type_aliases import canonical_type

ENTRY_POINT_GROUP = "kestra_dagster.plugins"
#: Where our own families are listed: pyproject.toml's entry points are the one list.
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def checkout_families(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """Our families read from ``pyproject.toml``, for a bare checkout with no package metadata.

    An installed kestra-dagster (wheel or editable) declares them as entry points already; a
    source tree on ``sys.path`` without ``pip install`` only has this file. Parsed by hand (the
    section is ``name = "module"`` lines) so Python 3.10, which has no ``tomllib``, reads it too.
    """
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return {}
    families: dict[str, str] = {}
    inside = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("["):
            inside = line == f'[project.entry-points."{ENTRY_POINT_GROUP}"]'
            continue
        if inside and "=" in line:
            name, _, value = line.partition("=")
            families[name.strip().strip('"')] = value.strip().strip('"').strip("'")
    return families


@dataclass
class TypeEntry:
    type: str
    cls: type
    package: str
    aliases: tuple[str, ...]
    kind: str  # "task" | "trigger" | "condition"

    @property
    def summary(self) -> str:
        doc = (self.cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""


@dataclass
class Registry:
    entries: dict[str, TypeEntry] = field(default_factory=dict)
    by_alias: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: Task-runner type names (any accepted spelling) → the current name; families list theirs
    #: in ``TASK_RUNNERS`` (a dict) so validation knows them without importing the runners.
    task_runners: dict[str, str] = field(default_factory=dict)

    def add_module(self, package: str, module_name: str) -> None:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a broken plugin must not take the others down
            self.problems.append(f"plugin {package!r} ({module_name}) failed to import: {exc}")
            return
        for kind, attr in (("task", "TASKS"), ("trigger", "TRIGGERS"), ("condition", "CONDITIONS")):
            for cls in getattr(module, attr, ()) or ():
                self.add(cls, package=package, kind=kind)
        self.task_runners.update(getattr(module, "TASK_RUNNERS", None) or {})

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
        """A close known name for a type we do not have, or None; never a far-fetched one."""
        if kind == "taskRunner":
            names = sorted(set(self.task_runners.values()))
            spellings = {n: n for n in names} | dict(self.task_runners)
        else:
            names = [t for t, e in self.entries.items() if e.kind == kind]
            spellings = {n: n for n in names}
            for e in self.entries.values():
                if e.kind == kind:
                    spellings.update({a: e.type for a in e.aliases})
        return suggest_name(type_name, spellings)

    def of_kind(self, kind: str) -> Iterable[TypeEntry]:
        return (e for e in self.entries.values() if e.kind == kind)


def suggest_name(name: str, spellings: dict[str, str]) -> str | None:
    """The name ``name`` most likely means among ``spellings`` (any spelling → current name).

    Known renames first (Kestra's old package names, a case slip); then a typo in one dotted
    segment. Two types that only share a class name in different plugins
    (``aws.dynamodb.Scan`` vs ``trivy.Scan``) are not close.
    """
    canonical = canonical_type(name)
    if canonical in spellings:
        return spellings[canonical]
    lowered = {s.lower(): target for s, target in spellings.items()}
    if name.lower() in lowered:
        return lowered[name.lower()]
    # A typo is one dotted segment off (the class or one package), and that segment is close.
    parts = name.lower().split(".")
    best, best_ratio = None, 0.0
    for spelling, target in lowered.items():
        other = spelling.split(".")
        if len(other) != len(parts):
            continue
        diff = [(x, y) for x, y in zip(parts, other) if x != y]
        if len(diff) != 1:
            continue
        ratio = difflib.SequenceMatcher(None, *diff[0]).ratio()
        if ratio >= 0.75 and ratio > best_ratio:
            best, best_ratio = target, ratio
    return best


def suggest_property(name: str, known: Iterable[str]) -> str | None:
    """The property ``name`` was probably meant to be (``mesage`` → ``message``), or None."""
    known = list(known)
    by_lower = {k.lower(): k for k in known}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    hit = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.75)
    return by_lower[hit[0]] if hit else None


_lock = threading.Lock()
_default: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built once from entry points (plus ours from pyproject.toml in a bare checkout)."""
    global _default
    with _lock:
        if _default is None:
            registry = Registry()
            seen: set[str] = set()
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                seen.add(ep.value)
                dist = getattr(getattr(ep, "dist", None), "name", None) or ep.name
                registry.add_module(f"{dist}:{ep.name}", ep.value)
            for name, module in checkout_families().items():
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
        if e.kind not in ("task", "trigger"):  # conditions: `kestra-dagster plugins` lists them
            continue
        aliases = "<br>".join(f"`{a}`" for a in e.aliases)
        lines.append(f"| {e.kind} | `{e.type}` | {aliases} | {e.summary} |")
    return "\n".join(lines)
