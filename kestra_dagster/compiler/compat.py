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

from dagster import Failure, OpDefinition

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


# ============================================================================ Kestra step rules
#: Op tag that opts a step into Kestra's rules below; every op the compiler builds carries it.
KESTRA_STEP_TAG = "kestra/step"


class TaskFailure(Failure):
    """A Kestra task ended FAILED or KILLED: the step fails (red) with the task's own message.

    Dagster records a failure with the Python stack of where it was raised, which for a routine
    task failure is ~20 lines of Dagster internals; the message already says what the task said.
    ``install_step_rules`` makes such failures carry no stack (our own bugs keep theirs).
    """

    def __init__(self, message: str, metadata: Mapping[str, Any] | None = None):
        super().__init__(description=message, metadata=metadata, allow_retries=False)
        self.message = message


_installed = False


def install_step_rules() -> None:
    """Teach Dagster's step scheduler two Kestra rules, for steps tagged ``KESTRA_STEP_TAG`` only.

    Dagster has no "run even if upstream failed" rule (dagster-io/dagster#15761): a failed step's
    consumers are *abandoned*. Kestra needs the failed task red **and** its ``errors``/``finally``
    to run in the same execution. A task step therefore yields its ``failed`` output and then
    fails; here, for our steps, an output that a failed step did not yield counts as *missing*
    (as for a succeeded step), so the usual optional-output rules apply: the next task is
    SKIPPED, and a fan-in (``errors``, ``finally``, the end node) runs when any of its sources was
    produced. Steps downstream of an abandoned step (a terminated run) are still abandoned, and
    every other job in the process keeps Dagster's own rules.

    Also: a ``TaskFailure``'s step-failure event carries the task's message and no Python stack.
    """
    global _installed
    if _installed:
        return
    from dagster._core.execution.plan import active as _active
    from dagster._core.execution.plan import execute_plan as _execute_plan

    active_cls = _active.ActiveExecution
    original_update = active_cls._update
    original_failure_event = _execute_plan.step_failure_event_from_exc_info

    def _update(self) -> None:
        original_update(self)
        for key in list(self._pending_abandon):
            step = self.get_step_by_key(key)
            if KESTRA_STEP_TAG not in (step.tags or {}):
                continue
            sources = [h for inp in step.step_inputs for h in inp.get_step_output_handle_dependencies()]
            if any(h.step_key in self._abandoned for h in sources):
                continue
            self._pending_abandon.remove(key)
            if _missing_inputs(self, step):
                self._pending_skip.append(key)
            else:
                self._executable.append(key)

    def _failure_event(step_context, exc_info, user_failure_data=None, error_source=None):
        exc = exc_info[1]
        if isinstance(exc, TaskFailure):
            from dagster._core.events import DagsterEvent
            from dagster._core.execution.plan.objects import StepFailureData
            from dagster._utils.error import SerializableErrorInfo

            return DagsterEvent.step_failure_event(
                step_context=step_context,
                step_failure_data=StepFailureData(
                    error=SerializableErrorInfo(message=exc.message, stack=[], cls_name=None),
                    user_failure_data=user_failure_data, error_source=None,
                ),
            )
        return original_failure_event(step_context, exc_info, user_failure_data, error_source)

    original_mark_failed = active_cls.mark_failed

    def mark_failed(self, step_key: str) -> None:
        original_mark_failed(self, step_key)
        # A failed step's unyielded dynamic outputs resolve to "none" (as for a skipped step),
        # so its mapped steps and their collector are SKIPPED instead of waiting forever.
        if KESTRA_STEP_TAG in (self.get_step_by_key(step_key).tags or {}):
            self._resolve_any_dynamic_outputs(step_key)

    active_cls._update = _update
    active_cls.mark_failed = mark_failed
    _execute_plan.step_failure_event_from_exc_info = _failure_event
    _installed = True


def _missing_inputs(active, step) -> bool:
    """Dagster's optional-output skip rule, with outputs a failed step did not yield counted missing."""
    from dagster._core.execution.plan.inputs import FromMultipleSources

    resolved = active._success | active._skipped | active._failed
    for step_input in step.step_inputs:
        handles = list(step_input.get_step_output_handle_dependencies())
        missing = [h for h in handles if h.step_key in resolved and h not in active._step_outputs]
        if missing and (not isinstance(step_input.source, FromMultipleSources) or len(missing) == len(handles)):
            active._skipped_deps[step.key] = [f"{h.step_key}.{h.output_name}" for h in missing]
            return True
    return False


def collect_dependency(node: str, output: str):
    """A dependency that collects every item of a mapped node's output (``.collect()`` of the
    composition API), for graphs assembled from dependency dicts, which Dagster only offers
    through a private class."""
    from dagster._core.definitions.dependency import DynamicCollectDependencyDefinition

    return DynamicCollectDependencyDefinition(node, output)
