"""Rendering trigger properties (keys, inputs, conditions) with the expression engine.

Trigger properties are rendered where the trigger is evaluated (the intake, a sensor tick), with
``secret()`` available. Revealed secret values are returned so callers can keep them out of
anything they log or store.
"""

from __future__ import annotations

from typing import Any



def flow_variables(flow) -> dict[str, Any]:
    """The ``flow``/``vars``/``labels`` variables a trigger property is rendered with."""
    return {"flow": {"id": flow.id, "namespace": flow.namespace, "revision": 1}, "vars": flow.variables,
            "labels": flow.label_dict()}


def render(value: Any, variables: dict, secrets=None) -> Any:
    from kestra_dagster.expressions import SecretResolver, render_value

    resolver = secrets if secrets is not None else SecretResolver()
    return render_value(value, {**variables, "__secrets__": resolver})


def render_secret(value: str | None, variables: dict) -> str | None:
    """A rendered, trimmed secret-bearing property (webhook key, HMAC secret); None stays None."""
    if value is None:
        return None
    out = render(value, variables)
    return str(out).strip()


def renderer():
    """A ``(value, variables) -> value`` callable for ``ConditionContext.render``."""
    return lambda value, variables: render(value, variables)


__all__ = ["render", "render_secret", "renderer"]
