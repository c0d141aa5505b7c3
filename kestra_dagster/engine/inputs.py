"""Execution inputs: launch values checked against the flow's declarations, defaults applied.

Runs before any task, so a bad input rejects the execution with every problem listed at once.
"""

from __future__ import annotations

from typing import Any

from kestra_dagster.errors import ExpressionError, InputError
from kestra_dagster.expressions import render_typed
from kestra_dagster.model.common import is_dynamic
from kestra_dagster.model.flow import Flow


def resolve_inputs(flow: Flow, given: dict[str, Any] | None, variables: dict | None = None,
                   revealed: set[str] | None = None) -> dict[str, Any]:
    """Typed inputs for an execution; raises InputError naming each bad or missing input.

    Values a parent sealed (secret-derived Subflow inputs, engine/encryption.py) are decrypted
    here; their clear values are added to ``revealed`` so the caller can mask them."""
    from kestra_dagster.engine.encryption import EncryptionError, unseal

    opened: set[str] = set()
    try:
        given = unseal(dict(given or {}), opened)
    except EncryptionError as exc:
        raise InputError([str(exc)]) from None
    resolved: dict[str, Any] = {}
    errors: list[str] = []
    declared = {i.id for i in flow.inputs}
    for name in sorted(set(given) - declared):
        errors.append(f"'{name}' is not an input of {flow.uid} (declared: {', '.join(sorted(declared)) or 'none'})")
    for inp in flow.inputs:
        value = given.get(inp.id)
        if value is None or value == "":
            default = inp.defaults
            if is_dynamic(default):
                try:
                    default = render_typed(default, {**(variables or {}), "inputs": resolved})
                except ExpressionError as exc:
                    errors.append(f"'{inp.id}': its default cannot be rendered: {exc}")
                    continue
            value = default
        if value is None:
            if inp.required:
                errors.append(f"'{inp.id}' is required ({inp.type}) and has no default")
            else:
                resolved[inp.id] = None
            continue
        try:
            resolved[inp.id] = inp.coerce(value)
        except ValueError as exc:
            errors.append(f"'{inp.id}' = {_preview(value, inp.type)} is not a valid {inp.type}: {exc}")
    if errors:
        raise InputError(errors)
    if revealed is not None:
        revealed.update(opened)
    out = ResolvedInputs(resolved)
    out.revealed = frozenset(opened)
    return out


class ResolvedInputs(dict):
    """Typed inputs; ``revealed`` holds the clear values of sealed (secret-derived) ones, which an
    ``ExecutionState`` built from them masks in logs and encrypts at rest like secret outputs."""

    revealed: frozenset = frozenset()


def _preview(value: Any, kind: str) -> str:
    if kind == "SECRET":
        return "******"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
