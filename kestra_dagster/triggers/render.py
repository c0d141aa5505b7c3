"""Rendering trigger properties (keys, inputs, conditions) with the expression engine.

Trigger properties are rendered where the trigger is evaluated (the intake, a sensor tick), with
``secret()`` available. Revealed secret values are returned so callers can keep them out of
anything they log or store.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Callable, TypeVar

T = TypeVar("T")

#: Wall-clock budget of one render done while answering a request (webhook key, conditions,
#: inputs): a delivery is answered in seconds, whatever its trigger's templates do.
INTAKE_RENDER_SECONDS = 2.0
#: Renders answering requests run on these threads, never on the event loop (a slow template
#: must not stall other deliveries); the pool is small so slow templates cannot take every thread.
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="kestra-render")


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
    if isinstance(value, str) and "{{" not in value and "{%" not in value:
        return value.strip()  # a literal (most webhook keys): nothing to render on every request
    out = render(value, variables)
    return str(out).strip()


def renderer():
    """A ``(value, variables) -> value`` callable for ``ConditionContext.render``."""
    return lambda value, variables: render(value, variables)


async def run_off_loop(work: Callable[[], T], seconds: float = INTAKE_RENDER_SECONDS) -> T:
    """Run ``work`` (renders, condition checks) on a render thread under a ``seconds`` budget.

    The budget is enforced inside the thread (expressions/budget.py), so the render really
    stops; the event loop only awaits. Raises ExpressionError (RenderTimeout) when out of time.
    """
    from kestra_dagster.expressions import budget

    def bounded_work() -> T:
        with budget.bounded(seconds, reason=f"rendering took longer than {seconds:g} s (intake budget)"):
            return work()

    return await asyncio.wrap_future(_POOL.submit(bounded_work))


async def render_off_loop(value: Any, variables: dict, secrets=None, seconds: float = INTAKE_RENDER_SECONDS) -> Any:
    """:func:`render` on a render thread (see :func:`run_off_loop`): for request handlers."""
    return await run_off_loop(lambda: render(value, variables, secrets), seconds)


__all__ = ["render", "render_secret", "renderer", "run_off_loop", "render_off_loop", "INTAKE_RENDER_SECONDS"]
