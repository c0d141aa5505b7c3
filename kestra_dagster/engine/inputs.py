"""Execution inputs: launch values checked against the flow's declarations, defaults applied.

Runs before any task, so a bad input rejects the execution with every problem listed at once.
Kestra's rules for input ids and dependencies apply:

* a dotted id nests (``id: request.name`` is ``{{ inputs.request.name }}``); values may be given
  under the dotted id (CLI, API, Subflow ``inputs``) or nested (``{request: {name: x}}``, the
  Dagster Launchpad);
* ``dependsOn.inputs`` are resolved first, whatever their place in the list; an input whose
  ``dependsOn.condition`` renders false, or that depends on such an input, is *disabled*: it is
  not required, a value given for it is dropped, and it is absent from ``inputs``. The condition
  sees the values of the inputs it depends on (and the execution's variables).
"""

from __future__ import annotations

from typing import Any, Iterable

from kestra_dagster.errors import ExpressionError, InputError
from kestra_dagster.expressions import render_typed
from kestra_dagster.model.common import is_dynamic
from kestra_dagster.model.flow import Flow
from kestra_dagster.model.inputs import input_prefixes


def resolve_inputs(flow: Flow, given: dict[str, Any] | None, variables: dict | None = None,
                   revealed: set[str] | None = None) -> dict[str, Any]:
    """Typed inputs for an execution (nested at dots); raises InputError naming each bad or
    missing input.

    Values a parent sealed (secret-derived Subflow inputs, engine/encryption.py) are decrypted
    here; their clear values are added to ``revealed`` so the caller can mask them."""
    from kestra_dagster.engine.encryption import EncryptionError, unseal

    opened: set[str] = set()
    try:
        given = unseal(dict(given or {}), opened)
    except EncryptionError as exc:
        raise InputError([str(exc)]) from None
    given = flatten_given(flow, given)
    errors: list[str] = []
    declared = {i.id for i in flow.inputs}
    for name in sorted(set(given) - declared):
        errors.append(f"'{name}' is not an input of {flow.uid} (declared: {', '.join(sorted(declared)) or 'none'})")
    context = {"flow": {"id": flow.id, "namespace": flow.namespace}, **(variables or {})}
    resolver = _Resolver(flow, given, context, errors)
    for inp in flow.inputs:
        resolver.resolve(inp.id)
    if errors:
        raise InputError(errors)
    if revealed is not None:
        revealed.update(opened)
    out = ResolvedInputs(nest_inputs(resolver.values))
    out.revealed = frozenset(opened)
    return out


class _Resolver:
    """Resolves inputs in declaration order, each one's ``dependsOn.inputs`` first (Kestra's order)."""

    def __init__(self, flow: Flow, given: dict[str, Any], variables: dict, errors: list[str]):
        self.by_id = {i.id: i for i in flow.inputs}
        self.given, self.variables, self.errors = given, variables, errors
        self.values: dict[str, Any] = {}  # enabled inputs, by (dotted) id
        self.enabled: dict[str, bool] = {}
        self._visiting: set[str] = set()

    def resolve(self, input_id: str) -> bool:
        """Resolve ``input_id`` once; True when it is enabled."""
        if input_id in self.enabled:
            return self.enabled[input_id]
        if input_id in self._visiting:  # the loader refuses cycles; never recurse forever
            self.errors.append(f"'{input_id}' depends on itself through dependsOn")
            self.enabled[input_id] = False
            return False
        self._visiting.add(input_id)
        try:
            enabled = self._resolve(self.by_id[input_id])
        finally:
            self._visiting.discard(input_id)
        self.enabled[input_id] = enabled
        return enabled

    def _resolve(self, inp) -> bool:
        depends = inp.dependsOn
        deps = [d for d in (depends.inputs if depends else []) if d != inp.id and d in self.by_id]
        if not all([self.resolve(d) for d in deps]):
            return False  # a disabled dependency disables this input too
        if depends is not None and depends.condition is not None:
            seen = {d: self.values.get(d) for d in deps}
            try:
                enabled = condition_holds(depends.condition, {**self.variables, "inputs": nest_inputs(seen)})
            except (ExpressionError, ValueError) as exc:
                self.errors.append(f"'{inp.id}': its dependsOn.condition cannot be evaluated: {exc}")
                return False
            if not enabled:
                return False
        value = self.given.get(inp.id)
        if value is None or value == "":
            value = self._default(inp)
            if value is _FAILED:
                return True
        if value is None:
            if inp.required:
                self.errors.append(f"'{inp.id}' is required ({inp.type}) and has no default")
            else:
                self.values[inp.id] = None
            return True
        try:
            self.values[inp.id] = inp.coerce(value)
        except ValueError as exc:
            self.errors.append(f"'{inp.id}' = {_preview(value, inp.type)} is not a valid {inp.type}: {exc}")
        return True

    def _default(self, inp) -> Any:
        default = inp.defaults
        if not is_dynamic(default):
            return default
        try:
            return render_typed(default, {**self.variables, "inputs": nest_inputs(self.values)})
        except (ExpressionError, ValueError) as exc:
            self.errors.append(f"'{inp.id}': its default cannot be rendered: {exc}")
            return _FAILED


_FAILED = object()


def condition_holds(condition: Any, variables: dict) -> bool:
    """A ``dependsOn.condition``: true enables the input; false or nothing (null) disables it."""
    if isinstance(condition, bool):
        return condition
    value = render_typed(str(condition), variables)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ValueError(f"it must render to true or false, got {_preview(value, '')}")


class ResolvedInputs(dict):
    """Typed inputs; ``revealed`` holds the clear values of sealed (secret-derived) ones, which an
    ``ExecutionState`` built from them masks in logs and encrypts at rest like secret outputs."""

    revealed: frozenset = frozenset()


def flatten_given(flow: Flow, given: dict[str, Any]) -> dict[str, Any]:
    """Launch values keyed by input id: a map given under a prefix of dotted ids is opened up
    (``{request: {name: x}}`` → ``{"request.name": x}``); a declared id's value stays as given."""
    declared = {i.id for i in flow.inputs}
    prefixes = input_prefixes(declared)
    if not prefixes:
        return given
    out: dict[str, Any] = {}

    def walk(prefix: str, mapping: dict) -> None:
        for key, value in mapping.items():
            name = f"{prefix}{key}"
            if name not in declared and name in prefixes and isinstance(value, dict):
                walk(name + ".", value)
            else:
                out[name] = value

    walk("", given)
    return out


def nest_inputs(values: dict[str, Any]) -> dict[str, Any]:
    """``{"request.name": x}`` → ``{"request": {"name": x}}`` (Kestra's ``MapUtils.flattenToNestedMap``;
    the loader refuses ids that would collide, such as ``a`` beside ``a.b``)."""
    if not any("." in k for k in values):
        return dict(values)
    out: dict[str, Any] = {}
    for key, value in values.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def _preview(value: Any, kind: str) -> str:
    if kind == "SECRET":
        return "******"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
