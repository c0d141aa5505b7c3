"""What each compiled op does at run time: start, task, failure marker, end.

Design (why the graph looks the way it does; Dagster has no "run even if upstream failed"
rule, dagster-io/dagster#15761):

* **Catch and route.** A task op never raises for a task failure. It yields exactly one of two
  optional outputs, ``ok`` or ``failed``, each carrying the ``ExecutionState`` (outputs and task
  runs so far). The next main task hangs off ``ok``, so after a failure the rest of the list is
  SKIPPED by Dagster itself.
* **errors** hang off a fan-in of every main task's ``failed``: a fan-in runs when at least one
  source produced a value, so they run only after a failure. **finally** hangs off a fan-in of
  each list's outcomes (every ``failed``, plus the last ``ok``): every step is a source, so it
  runs after all of them, whatever happened. The state accumulates along a chain, so the last
  ``ok`` carries everything before it; fan-ins merge snapshots into a copy.
* **Red where Kestra says FAILED.** Each task has a marker op ``<task>__FAILED`` mapped over its
  dynamic ``failure`` output, which yields one item only when the task fails: the marker step
  ``<task>__FAILED[failed]`` then raises, so the failure shows in red next to the task and the
  Dagster run ends FAILURE, while errors/finally still run (they do not depend on markers). On
  success no marker step exists at all, so markers add no event to a healthy run.
* **kestra_end** fans in the same outcomes of every list, folds Kestra's final state (KILLED >
  FAILED > WARNING > PAUSED > SUCCESS over main + finally tasks), renders flow ``outputs``, tags
  the run (``kestra/state``) and lets task types clean up (``on_execution_end``).
  **afterExecution** tasks hang off it, see ``execution.state``, and cannot change the outcome
  (no markers).
* **retry** of a top-level task is a Dagster step retry (``RetryRequested`` with Kestra's delay),
  so each attempt shows in the run; only the last attempt routes to ``ok``/``failed``. Kestra's
  policies (constant/exponential/random, ``maxAttempt``, ``maxDuration`` from the first attempt)
  decide, not a Dagster ``RetryPolicy`` (whose backoff and jitter differ). Nested tasks retry
  inside their flowable's op, as Kestra retries the task and not its parent.
* A top-level Pause/Approval splits the flow into part jobs (``approvals.gate``); a part that
  stops at a gate ends PAUSED and runs no ``finally``/afterExecution.
* Nested tasks (inside If, ForEach, Parallel…) run inside their top-level flowable's op through
  the same engine; their logs carry their task id and their states land in the op's metadata.
* Tasks never import Dagster: audit records under ``ASSET_EVENTS_KEY`` become asset
  materializations here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterEventType,
    DynamicOutput,
    Failure,
    MetadataValue,
    Output,
    RetryRequested,
)

from kestra_dagster.compiler import sla
from kestra_dagster.compiler.naming import label_tag
from kestra_dagster.engine.context import ASSET_EVENTS_KEY, mask_secrets
from kestra_dagster.engine.execution import ExecutionState, utcnow_iso
from kestra_dagster.engine.runner import RetryStep, Runner, RunServices, Scope, StepRetry
from kestra_dagster.engine.states import State
from kestra_dagster.errors import ExpressionError
from kestra_dagster.expressions import SecretResolver

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow
    from kestra_dagster.model.common import Task

RESOURCE_KEY = "kestra"
OK, FAILED, CTX = "ok", "failed", "ctx"
#: Dynamic output feeding a task's failure marker: mapped steps exist only when it yields, so a
#: successful task costs the marker nothing (no skipped step, no event).
FAILURE = "failure"
END_NODE = "kestra_end"
MARKER_SUFFIX = "__FAILED"
#: Largest JSON preview of outputs put in event metadata (the full value travels on the edge).
METADATA_PREVIEW_BYTES = 64_000


@dataclass
class RunSetup:
    """What the ``kestra`` resource hands to ops: validated inputs, trigger data, labels."""

    inputs: dict[str, Any]
    trigger: dict[str, Any]
    labels: dict[str, str]


class _TaskLogger:
    """Routes a task's log lines into the Dagster event log, prefixed and with secrets masked."""

    def __init__(self, log, prefix: str, secrets: SecretResolver):
        self._log = log
        self._prefix = prefix
        self._secrets = secrets

    def _fmt(self, msg: str) -> str:
        return mask_secrets(f"{self._prefix}{msg}", self._secrets.revealed)

    def debug(self, msg: str) -> None:
        self._log.debug(self._fmt(msg))

    def info(self, msg: str) -> None:
        self._log.info(self._fmt(msg))

    def warning(self, msg: str) -> None:
        self._log.warning(self._fmt(msg))

    def error(self, msg: str) -> None:
        self._log.error(self._fmt(msg))


class TrackingSecrets(SecretResolver):
    """Remembers which secret names were read, so later ops of the run can mask their values."""

    def __init__(self, known_names: list[str]):
        super().__init__()
        self.names: list[str] = []
        for name in known_names:
            try:
                self.get(name)
            except Exception:  # noqa: BLE001 - a secret that vanished cannot leak either
                pass

    def get(self, name: str) -> str:
        value = super().get(name)
        if name not in self.names:
            self.names.append(name)
        return value


def make_services(context, compiled: "CompiledFlow", execution: ExecutionState) -> RunServices:
    from kestra_dagster.compiler.kv import DagsterInstanceKV
    from kestra_dagster.compiler.logs import DagsterLogFetcher, task_log_prefix
    from kestra_dagster.engine.storage import default_storage, tasks_tmp_dir

    secrets = TrackingSecrets(execution.secret_names)
    secrets.revealed.update(execution.masked_values)  # tokens earlier tasks output as secrets

    def logger_factory(task_id: str, values: tuple[str, ...]) -> _TaskLogger:
        return _TaskLogger(context.log, task_log_prefix(task_id, values), secrets)

    return RunServices(
        storage=default_storage(),
        kv=DagsterInstanceKV(context.instance),
        logger_factory=logger_factory,
        secrets=secrets,
        subflow_launcher=compiled.subflow_launcher(context),
        log_fetcher=DagsterLogFetcher(context.instance),
        work_root=tasks_tmp_dir(),
    )


def _incoming(inputs: dict, compiled: "CompiledFlow", context) -> ExecutionState:
    """The execution state from upstream (merging a fan-in), or a new one for the first task."""
    value = inputs.get(CTX)
    if value is None:
        return compiled.new_execution(context)
    if isinstance(value, list):
        first, *rest = value
        return first.merged(rest)
    # A chained op is the only reader of its upstream's `ok` snapshot (fan-ins merge into a
    # copy), so it may extend it in place: no per-task deep copy of a growing state.
    return value


def make_task_fn(compiled: "CompiledFlow", task: "Task", branch: str) -> Callable:
    def compute(context, inputs):
        execution = _incoming(inputs, compiled, context)
        if branch == "afterExecution":
            execution.final_state = execution.final_state or execution.kestra_state().value
        services = make_services(context, compiled, execution)
        services.step_retry = StepRetry(context.retry_number, _first_attempt_started(context))
        services.cancel_event = sla.cancel_event(context.run_id, compiled, execution, branch)  # MAX_DURATION
        runner = Runner(compiled.flow, execution, services)
        started = time.monotonic()
        try:
            state = runner.run_task(task, Scope(branch=branch))
        except RetryStep as retry:  # Dagster re-runs the step: the attempt shows in the run
            raise RetryRequested(max_retries=context.retry_number + 1, seconds_to_wait=retry.delay) from None
        execution.secret_names = list(services.secrets.names)
        record = execution.task_runs[-1]
        metadata = {
            "kestra/state": state.value,
            "kestra/task_id": task.id,
            "kestra/type": task.type,
            "kestra/attempts": record.attempts,
            "kestra/duration_s": round(time.monotonic() - started, 3),
        }
        for event in _pop_asset_events(execution, task.id):
            yield event
        outputs = execution.outputs.get(task.id)
        if outputs is not None:
            metadata["kestra/outputs"] = _json_preview(outputs, services.secrets.revealed)
        nested = [r for r in execution.task_runs if r.parent is not None and r.started >= record.started]
        if nested:
            metadata["kestra/task_runs"] = MetadataValue.md(_runs_table(nested))
        if record.error:
            metadata["kestra/error"] = record.error
        if state in (State.FAILED, State.KILLED):
            yield from failed_outputs(execution, task.id, metadata)
        else:
            yield Output(execution, OK, metadata=metadata)

    return compute


def _first_attempt_started(context) -> float:
    """When this step's first attempt began (retry ``maxDuration`` counts from there)."""
    if context.retry_number == 0:
        return time.time()
    step_key = context.get_step_execution_context().step.key
    records = context.instance.get_records_for_run(context.run_id, of_type=DagsterEventType.STEP_START).records
    starts = [r.event_log_entry.timestamp for r in records if r.event_log_entry.step_key == step_key]
    return min(starts, default=time.time())


def _pop_asset_events(execution: ExecutionState, task_id: str) -> list[AssetMaterialization]:
    """Audit records a task returned under ``ASSET_EVENTS_KEY`` → Dagster asset materializations.

    Tasks have no Dagster import; a task that changes something a Dagster user tracks as an
    asset (an image repository's digest, say) lists it there, and the op records it.
    """
    found: list[AssetMaterialization] = []

    def visit(node: Any) -> None:
        if not isinstance(node, dict):
            return
        records = node.pop(ASSET_EVENTS_KEY, None)
        for record in records or []:
            found.append(AssetMaterialization(
                asset_key=AssetKey(list(record["assetKey"])),
                description=record.get("description"),
                metadata=record.get("metadata") or {},
            ))
        for value in node.values():
            if isinstance(value, dict) and records is None:
                visit(value)  # ForEach keys outputs by value: look one level down per loop

    visit(execution.outputs.get(task_id))
    return found


def failed_outputs(execution: ExecutionState, task_id: str, metadata: dict) -> list:
    """What a task op yields when its task ends FAILED/KILLED: the routed state and the marker's item."""
    record = next((r for r in reversed(execution.task_runs) if r.task_id == task_id and r.parent is None), None)
    reason = {"state": record.state if record else State.FAILED.value, "error": record.error if record else None}
    return [
        Output(execution, FAILED, metadata=metadata),
        DynamicOutput(reason, output_name=FAILURE, mapping_key="failed"),
    ]


def make_marker_fn(task_id: str) -> Callable:
    def compute(context, inputs):
        reason = inputs[CTX]
        raise Failure(
            description=f"task '{task_id}' ended {reason['state']}: {reason['error'] or 'see the task logs'}",
            metadata={"kestra/task_id": task_id},
            allow_retries=False,
        )

    return compute


def make_end_fn(compiled: "CompiledFlow") -> Callable:
    def compute(context, inputs):
        execution = _incoming(inputs, compiled, context)
        state = execution.kestra_state()
        if state in (State.SUCCESS, State.WARNING) and any(
            r.state == State.CANCELLED.value and r.parent is None and r.branch == "tasks" for r in execution.task_runs
        ):  # a gate decided CANCEL (guessFinalState does not fold CANCELLED)
            state = State.CANCELLED
        runner = Runner(compiled.flow, execution, make_services(context, compiled, execution))
        state = sla.settle(context, compiled, execution, runner, state)  # the flow's `sla`, if any
        output_error = None
        if state in (State.SUCCESS, State.WARNING) and compiled.flow.outputs:
            try:
                for out in compiled.flow.outputs:
                    execution.flow_outputs[out.id] = runner.render(out.value, Scope(), prop=f"outputs.{out.id}", typed=True)
            except ExpressionError as exc:
                output_error = str(exc)
                state = State.FAILED
        execution.final_state = state.value
        if state != State.PAUSED:
            _run_end_hooks(compiled, execution, context)
        tags = {"kestra/state": state.value}
        tags.update({label_tag(k): str(v)[:255] for k, v in execution.labels.items()})
        context.instance.add_run_tags(context.run_id, tags)
        context.log.info(f"execution {execution.execution_id} of {compiled.flow.uid} ended {state.value}")
        metadata = {
            "kestra/state": state.value,
            "kestra/task_states": _json_preview(execution.task_states()),
            "kestra/flow_outputs": _json_preview(execution.flow_outputs, runner.services.secrets.revealed),
        }
        if output_error:
            raise Failure(description=f"flow outputs could not be rendered: {output_error}", metadata=metadata)
        if state == State.PAUSED:  # the execution goes on in the next part job: no afterExecution yet
            context.log.info(f"execution {execution.execution_id} waits at a gate; afterExecution runs when it ends")
            return
        yield Output(execution, OK, metadata=metadata)

    return compute


def _run_end_hooks(compiled: "CompiledFlow", execution: ExecutionState, context) -> None:
    """Let task types clean up after the whole execution (e.g. Compose stacks left running)."""
    from kestra_dagster.model.loader import all_flow_tasks

    by_type: dict[type, list] = {}
    for task in all_flow_tasks(compiled.flow):
        by_type.setdefault(type(task), []).append(task)
    for cls, tasks in by_type.items():
        hook = getattr(cls, "on_execution_end", None)
        if hook is None:
            continue
        try:
            hook(tasks, execution.execution_id, context.log)
        except Exception as exc:  # noqa: BLE001 - cleanup must not change the execution's state
            context.log.warning(f"{cls.kestra_type}: end-of-execution cleanup failed: {exc}")


def _json_preview(value: Any, secrets: set[str] | frozenset = frozenset()) -> Any:
    """Outputs as JSON metadata, truncated, with any secret value revealed in this op masked."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        return MetadataValue.text(mask_secrets(str(value), secrets)[:METADATA_PREVIEW_BYTES])
    masked = mask_secrets(text, {json.dumps(s)[1:-1] for s in secrets})
    if masked != text:
        return MetadataValue.text(masked[:METADATA_PREVIEW_BYTES])
    if len(text) > METADATA_PREVIEW_BYTES:
        return MetadataValue.text(text[:METADATA_PREVIEW_BYTES] + "… (truncated)")
    return MetadataValue.json(json.loads(text))


def _runs_table(records) -> str:
    rows = ["| task | value | state | attempts |", "|---|---|---|---|"]
    for r in records[:200]:
        rows.append(f"| {r.task_id} | {'/'.join(r.values)} | {r.state} | {r.attempts} |")
    return "\n".join(rows)


__all__ = ["RunSetup", "make_task_fn", "make_marker_fn", "make_end_fn", "utcnow_iso"]
