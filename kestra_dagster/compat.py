"""The one place that leans on Dagster internals, so an upgrade has one file to check.

Building an ``OpDefinition`` through its public constructor costs ~0.5 ms (type resolution of
every In/Out); a code location with 10,000 tasks would spend 5 s there. Every task op shares the
same inputs and outputs, so we build one prototype per shape and copy it with a new name,
description, tags and compute function (~20× cheaper). If Dagster renames those attributes the
copy falls back to the public constructor, which is slower but always right.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping

from dagster import OpDefinition

_FIELDS = ("_name", "_description", "_tags", "_compute_fn")


def clone_op(
    prototype: OpDefinition,
    name: str,
    description: str,
    tags: Mapping[str, Any],
    compute_fn: Callable[..., Any],
) -> OpDefinition:
    if all(hasattr(prototype, f) for f in _FIELDS):
        op = copy.copy(prototype)
        op._name = name  # type: ignore[attr-defined]
        op._description = description  # type: ignore[attr-defined]
        op._tags = dict(tags)  # type: ignore[attr-defined]
        op._compute_fn = compute_fn  # type: ignore[attr-defined]
        return op
    return OpDefinition(  # pragma: no cover - only after a Dagster refactor
        compute_fn=compute_fn,
        name=name,
        ins={d.name: _in(d) for d in prototype.input_defs},
        outs={d.name: _out(d) for d in prototype.output_defs},
        description=description,
        tags=dict(tags),
        required_resource_keys=set(prototype.required_resource_keys),
    )


def _in(definition):  # pragma: no cover
    from dagster import In

    return In.from_definition(definition)


def _out(definition):  # pragma: no cover
    from dagster import Out

    return Out.from_definition(definition)
