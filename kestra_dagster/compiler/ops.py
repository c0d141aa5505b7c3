"""What each compiled op does at run time: start, task, block head and tail, end.

The graph these ops form is chosen in ``compiler.graph`` (see its docstring for the shape). At
run time every edge carries the ``ExecutionState`` (outputs and task runs so far):

* **kestra_start** checks the inputs against the flow's rules (a refused value fails this step
  with the input's message and tags the run ``kestra/state=FAILED``: no task runs), the flow's
  ``disabled`` and ``concurrency``, and creates the execution.
* **A task op** runs one Kestra task through the engine (``Runner.run_task``) and yields ``ok``
  or, when the task ends FAILED/KILLED, ``failed`` and then fails its step with the task's own
  message (no Python stack: ``compat.TaskFailure``). Dagster's rules as taught by
  ``compat.install_step_rules`` then skip the rest of the list and still run ``errors``,
  ``finally`` and the end node, which fan in over those outputs. Inside ``AllowFailure`` (or
  under ``allowFailure: true``) and in ``afterExecution`` a failed task routes without failing
  its step: Kestra ends such executions WARNING/as they were, so the Dagster run must not fail.
* **A block head** (``kestra_start`` inside a Sequential/AllowFailure/If/Switch sub-graph)
  applies the block's ``runIf``, evaluates its condition or value and yields the output of the
  branch to run, or ``done`` when the block ended before its children.
* **A block tail** (``kestra_end`` inside the sub-graph) folds the block's state from its
  children's task runs (Kestra's ``guessFinalState``, ``finally`` included, AllowFailure's
  FAILED → WARNING) and routes ``ok``/``failed`` like a task op.
* **kestra_end** folds Kestra's final state (KILLED > FAILED > WARNING > PAUSED > SUCCESS over
  main + finally tasks), renders flow ``outputs``, sums metrics, tags the run ``kestra/state``
  and lets task types clean up. It fails its step only when the execution ends FAILED/KILLED
  while no task step failed (an SLA, unrenderable outputs), so the run's Dagster status always
  says what Kestra says. **afterExecution** tasks hang off it and cannot change the outcome.
* **retry** of a task that is its own step is a Dagster step retry (``RetryRequested`` with
  Kestra's delay), so each attempt shows; only the last attempt routes. Tasks nested in a
  flowable that runs as one op retry inside it, as Kestra retries the task and not its parent.
* Tasks never import Dagster: audit records under ``ASSET_EVENTS_KEY`` become asset
  materializations here, metrics (``TaskContext.metric``) become step metadata.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterEventType,
    DynamicOutput,
    MetadataValue,
    Output,
    RetryRequested,
)

from kestra_dagster.compiler import sla
from kestra_dagster.compiler.steps import TaskFailure
from kestra_dagster.compiler.naming import label_tag
from kestra_dagster.engine.context import ASSET_EVENTS_KEY, mask_secrets
from kestra_dagster.engine.execution import ExecutionState, utcnow_iso
from kestra_dagster.engine.runner import RetryStep, Runner, RunServices, Scope, StepRetry
from kestra_dagster.engine.states import State
from kestra_dagster.errors import ExpressionError, KestraDagsterError, TaskFailed
from kestra_dagster.expressions import SecretResolver

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow
    from kestra_dagster.model.common import Task

RESOURCE_KEY = "kestra"
OK, FAILED, CTX = "ok", "failed", "ctx"
#: A block head's output when the block ended before its children (skipped, no branch, bad condition).
DONE = "done"
#: The branch output of Sequential/AllowFailure heads.
GO = "go"
#: A mapped ForEach head's dynamic output: one item per value.
ITEM = "item"
START_NODE = "kestra_start"
END_NODE = "kestra_end"
#: Largest JSON preview of outputs put in event metadata (the full value travels on the edge).
METADATA_PREVIEW_BYTES = 64_000
#: Log lines of a failed task repeated in its step's failure message.
FAILURE_LOG_LINES = 8


@dataclass
class RunSetup:
    """What the ``kestra`` resource hands to ops: the raw inputs, trigger data, labels."""

    inputs: dict[str, Any]
    trigger: dict[str, Any]
    labels: dict[str, str]


class _TaskLogger:
    """Routes a task's log lines into the Dagster event log, prefixed and with secrets masked.

    Keeps the last lines too: a failed task's step repeats them in its failure message.
    """

    def __init__(self, log, prefix: str, secrets: SecretResolver, tail: deque):
        self._log = log
        self._prefix = prefix
        self._secrets = secrets
        self._tail = tail

    def _fmt(self, msg: str) -> str:
        text = mask_secrets(f"{self._prefix}{msg}", self._secrets.revealed)
        self._tail.append(text)
        return text

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
    from kestra_dagster.instance_kv import DagsterInstanceKV
    from kestra_dagster.compiler.instance_ops import DagsterInstanceOps
    from kestra_dagster.compiler.logs import DagsterLogFetcher, task_log_prefix
    from kestra_dagster.compiler.resources import SERVICES_KEY, KestraServices

    run_services: KestraServices = getattr(context.resources, SERVICES_KEY, None) or KestraServices()

    secrets = TrackingSecrets(execution.secret_names)
    secrets.revealed.update(execution.masked_values)  # tokens earlier tasks output as secrets
    tail: deque = deque(maxlen=FAILURE_LOG_LINES)

    def logger_factory(task_id: str, values: tuple[str, ...]) -> _TaskLogger:
        return _TaskLogger(context.log, task_log_prefix(task_id, values), secrets, tail)

    storage = run_services.storage()
    services = RunServices(
        storage=storage,
        kv=DagsterInstanceKV(context.instance),
        logger_factory=logger_factory,
        secrets=secrets,
        subflow_launcher=compiled.subflow_launcher(context),
        log_fetcher=DagsterLogFetcher(context.instance),
        instance_ops=DagsterInstanceOps(context.instance, context.run_id, execution.execution_id, compiled, storage),
        work_root=run_services.work_root(),
    )
    services.log_tail = tail  # type: ignore[attr-defined]
    return services


# ============================================================================ scopes on the edges
def current_scope(execution: ExecutionState) -> Scope:
    """Where the next task runs: the innermost open block's child scope, else the flow's."""
    stack = getattr(execution, "_kestra_scopes", None)
    return stack[-1] if stack else Scope()


def _push_scope(execution: ExecutionState, scope: Scope) -> None:
    execution._kestra_scopes = [*getattr(execution, "_kestra_scopes", []), scope]  # type: ignore[attr-defined]


def _pop_scope(execution: ExecutionState, block_id: str) -> None:
    stack = getattr(execution, "_kestra_scopes", [])
    if stack and stack[-1].parent_task == block_id:
        execution._kestra_scopes = stack[:-1]  # type: ignore[attr-defined]


def _incoming(inputs: dict, compiled: "CompiledFlow", context) -> ExecutionState:
    """The execution state from upstream, merging a fan-in."""
    value = inputs.get(CTX)
    if value is None:
        raise TaskFailure("internal: this step received no execution state")
    if isinstance(value, list):
        first, *rest = value
        return first.merged(rest)
    # A chained op is the only reader of its upstream's `ok` snapshot (fan-ins merge into a
    # copy), so it may extend it in place: no per-task deep copy of a growing state.
    return value


def _runner(context, compiled: "CompiledFlow", execution: ExecutionState, branch: str) -> Runner:
    services = make_services(context, compiled, execution)
    services.cancel_event = sla.cancel_event(context.run_id, compiled, execution, branch)  # MAX_DURATION
    return Runner(compiled.flow, execution, services)


# ============================================================================ start
def make_start_fn(compiled: "CompiledFlow") -> Callable:
    def compute(context, inputs):
        execution = compiled.new_execution(context)
        yield Output(execution, OK, metadata={
            "kestra/execution_id": execution.execution_id,
            "kestra/inputs": _json_preview(execution.inputs),
        })

    return compute


# ============================================================================ one task
def make_task_fn(compiled: "CompiledFlow", task: "Task", branch: str, may_fail_run: bool = True) -> Callable:
    def compute(context, inputs):
        execution = _incoming(inputs, compiled, context)
        step = yield from _run_task_step(context, compiled, task, branch, execution)
        if step.state in (State.FAILED, State.KILLED):
            yield from failed_outputs(context, execution, task, step.state, step.error, step.metadata, may_fail_run,
                                      step.log_tail)
        else:
            yield Output(execution, OK, metadata=step.metadata)

    return compute


def make_item_fn(compiled: "CompiledFlow", task: "Task", may_fail_run: bool, stop_after_failure: bool) -> Callable:
    """The child of a ForEach mapped over its items: one step per item, its state on ``done``.

    With ``concurrencyLimit: 1`` Kestra stops a loop at its first failed item: an item whose
    earlier sibling failed does not run its task (the step says so and carries no task run).
    """

    def compute(context, inputs):
        execution = _incoming(inputs, compiled, context)
        scope = current_scope(execution)
        if stop_after_failure and _earlier_item_failed(context):
            context.log.info(f"item {scope.taskrun_value!r} not run: an earlier item failed (concurrencyLimit 1)")
            yield Output(execution, DONE, metadata={"kestra/state": "NOT_RUN", "kestra/value": scope.taskrun_value})
            return
        step = yield from _run_task_step(context, compiled, task, "tasks", execution)
        step.metadata["kestra/value"] = scope.taskrun_value
        if step.state in (State.FAILED, State.KILLED) and may_fail_run:
            execution.failed_steps.append(task.id)
            yield Output(execution, DONE, metadata=step.metadata)
            raise TaskFailure(failure_message(task, step.state, step.error, step.log_tail))
        yield Output(execution, DONE, metadata=step.metadata)

    return compute


def _earlier_item_failed(context) -> bool:
    key = context.get_step_execution_context().step.key  # e.g. "each.work[00001_b]"
    base, _, mine = key.partition("[")
    records = context.instance.get_records_for_run(context.run_id, of_type=DagsterEventType.STEP_FAILURE).records
    for record in records:
        other = record.event_log_entry.step_key or ""
        if other.startswith(base + "[") and other[len(base) + 1:] < mine:
            return True
    return False


@dataclass
class _StepResult:
    state: State
    error: str | None
    metadata: dict
    log_tail: Any


def _run_task_step(context, compiled: "CompiledFlow", task: "Task", branch: str, execution: ExecutionState):
    """Run one task as this step (asset events are yielded); its state, error and step metadata."""
    if branch == "afterExecution":
        execution.final_state = execution.final_state or execution.kestra_state().value
    scope = replace(current_scope(execution), branch=branch)
    runner = _runner(context, compiled, execution, branch)
    services = runner.services
    services.step_retry = StepRetry(context.retry_number, _first_attempt_started(context), task.id)
    started = time.monotonic()
    try:
        state = runner.run_task(task, scope)
    except RetryStep as retry:  # Dagster re-runs the step: the attempt shows in the run
        raise RetryRequested(max_retries=context.retry_number + 1, seconds_to_wait=retry.delay) from None
    execution.secret_names = list(services.secrets.names)
    record = next(r for r in reversed(execution.task_runs) if r.task_id == task.id and r.values == scope.values)
    metadata = {
        "kestra/state": state.value,
        "kestra/task_id": task.id,
        "kestra/type": task.type,
        "kestra/attempts": record.attempts,
        "kestra/duration_s": round(time.monotonic() - started, 3),
    }
    if scope.values:
        metadata["kestra/values"] = list(scope.values)
    for event in _pop_asset_events(execution, task.id):
        yield event
    outputs = _outputs_at(execution.outputs.get(task.id), scope.values)
    if outputs is not None:
        metadata["kestra/outputs"] = _json_preview(outputs, services.secrets.revealed)
    nested = [r for r in execution.task_runs if r.parent is not None and r.started >= record.started
              and r.task_id != task.id]
    if nested and task.is_flowable:  # children that ran inside this op (not steps of their own)
        metadata["kestra/task_runs"] = MetadataValue.md(runs_table(nested))
    metadata.update(metrics_metadata([m for r in (record, *nested) for m in r.metrics]))
    if record.error:
        metadata["kestra/error"] = record.error
    if state == State.WARNING:
        context.log.warning(f"task '{task.id}' ended WARNING")
    error = record.error or (_failed_children(nested) if state.is_failure else None)
    return _StepResult(state, error, metadata, getattr(services, "log_tail", ()))


def _failed_children(records) -> str | None:
    failed = [f"'{r.task_id}'" + (f" [{'/'.join(r.values)}]" if r.values else "") for r in records
              if State(r.state).is_failure]
    return f"child task(s) {', '.join(dict.fromkeys(failed))} failed" if failed else None


def _outputs_at(outputs: Any, values: tuple[str, ...]) -> Any:
    for value in values:
        if not isinstance(outputs, dict):
            return None
        outputs = outputs.get(value)
    return outputs


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


def failed_outputs(context, execution: ExecutionState, task: "Task", state: State, error: str | None,
                   metadata: dict, may_fail_run: bool = True, log_tail=()):
    """A task (or block, or gate) that ended FAILED/KILLED: route ``failed``, then fail the step.

    The step fails after its ``failed`` output is stored, so ``errors``/``finally`` still get the
    execution state (``compat.install_step_rules``). Where Kestra would not fail the execution
    for it (inside AllowFailure, afterExecution) the step routes and succeeds.
    """
    if may_fail_run:
        execution.failed_steps.append(task.id)  # before the output is stored: the end node reads it
    yield Output(execution, FAILED, metadata=metadata)
    if may_fail_run:
        raise TaskFailure(failure_message(task, state, error, log_tail), metadata={
            k: v for k, v in metadata.items() if k in ("kestra/state", "kestra/task_id", "kestra/type", "kestra/attempts")
        })
    context.log.warning(f"task '{task.id}' ended {state.value}; the execution goes on (allowed here)")


def failure_message(task: "Task", state: State, error: str | None, log_tail=()) -> str:
    """What a Kestra user needs to see: the task, its state, what it said; never a Python stack."""
    short = task.type.rsplit(".", 1)[-1]
    lines = [f"Task '{task.id}' ({short}) ended {state.value}: {error or 'see the task logs'}"]
    tail = [line for line in log_tail if error is None or error not in line]
    if tail:
        lines += ["", "Last log lines:", *(f"  {line}" for line in tail)]
    return "\n".join(lines)


# ============================================================================ blocks as sub-graphs
def make_head_fn(compiled: "CompiledFlow", block: "Task", branch: str, routes: tuple[str, ...]) -> Callable:
    """The first step of a block: ``runIf``, then which of ``routes`` (branch outputs) runs."""

    def compute(context, inputs):
        execution = _incoming(inputs, compiled, context)
        outer = replace(current_scope(execution), branch=branch)
        runner = _runner(context, compiled, execution, branch)
        early, child = runner.open_block(block, outer)
        if early is not None:
            yield Output(execution, DONE, metadata={"kestra/state": early.value})
            return
        route = GO
        if hasattr(block, "choose"):
            try:
                route = block.choose(runner, outer)
            except (TaskFailed, ExpressionError, KestraDagsterError) as exc:
                state = runner.fail_block(block, outer, str(exc))
                yield Output(execution, DONE, metadata={"kestra/state": state.value, "kestra/error": runner._masked(str(exc))})
                return
            if not [t for t in block.branches()[route] if not t.disabled]:
                state = runner.end_block(block, outer, State.SUCCESS)
                yield Output(execution, DONE, metadata={"kestra/state": state.value, "kestra/branch": route})
                return
        execution.secret_names = list(runner.services.secrets.names)
        _push_scope(execution, child)
        metadata = {"kestra/branch": route}
        outputs = _outputs_at(execution.outputs.get(block.id), outer.values)
        if outputs:
            metadata["kestra/outputs"] = _json_preview(outputs, runner.services.secrets.revealed)
        yield Output(execution, route if route in routes else GO, metadata=metadata)

    return compute


def make_loop_head_fn(compiled: "CompiledFlow", block: "Task", branch: str, may_fail_run: bool) -> Callable:
    """The first step of a ForEach mapped over its items: one ``item`` output per value.

    A loop that ends before its items (``runIf`` false, no values, values that do not render)
    routes ``ok``/``failed`` from here; mapping keys are the item's index and a Dagster-safe
    form of its value (the value itself is in the item's metadata).
    """

    def compute(context, inputs):
        execution = _incoming(inputs, compiled, context)
        outer = replace(current_scope(execution), branch=branch)
        runner = _runner(context, compiled, execution, branch)
        early, _ = runner.open_block(block, outer)
        values: list[str] = []
        if early is None:
            try:
                values = block.items(runner, outer)
            except (TaskFailed, ExpressionError, KestraDagsterError) as exc:
                early = runner.fail_block(block, outer, str(exc))
            else:
                if not values:
                    early = runner.end_block(block, outer, State.SUCCESS)
        if early is not None:
            record = runner.block_record(block, outer)
            metadata = {"kestra/state": early.value, "kestra/task_id": block.id, "kestra/type": block.type}
            if early.is_failure:
                yield from failed_outputs(context, execution, block, early, record.error if record else None,
                                          metadata, may_fail_run)
            else:
                yield Output(execution, OK, metadata=metadata)
            return
        execution.secret_names = list(runner.services.secrets.names)
        width = len(str(len(values)))
        for index, value in enumerate(values):
            item = execution.copy()
            _push_scope(item, block.item_scope(outer, index, value))
            yield DynamicOutput(item, output_name=ITEM, mapping_key=mapping_key(index, value, width),
                                metadata={"kestra/value": value})

    return compute


def mapping_key(index: int, value: str, width: int = 1) -> str:
    """``00002_eu_west_1`` for the third value ``eu-west-1``: ordered, unique, Dagster-safe."""
    return f"{index:0{width}d}_{re.sub(r'[^A-Za-z0-9_]', '_', value)[:40]}".rstrip("_")


def make_tail_fn(compiled: "CompiledFlow", block: "Task", branch: str, may_fail_run: bool) -> Callable:
    """The last step of a block: fold its state from its children, route like a task."""

    def compute(context, inputs):
        execution = _incoming(inputs, compiled, context)
        _pop_scope(execution, block.id)
        outer = replace(current_scope(execution), branch=branch)
        runner = _runner(context, compiled, execution, branch)
        state = runner.end_block(block, outer)
        record = runner.block_record(block, outer)
        metadata = {"kestra/state": state.value, "kestra/task_id": block.id, "kestra/type": block.type}
        if record is not None and record.started and record.ended:
            metadata["kestra/duration_s"] = round(_seconds(record.started, record.ended), 3)
        if record is not None and record.error:
            metadata["kestra/error"] = record.error
        if state in (State.FAILED, State.KILLED):
            error = record.error if record and record.error else _failed_children(
                [r for r in execution.task_runs if r.parent == block.id])
            yield from failed_outputs(context, execution, block, state, error, metadata, may_fail_run)
        else:
            yield Output(execution, OK, metadata=metadata)

    return compute


# ============================================================================ end
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
        retried = retried_task_runs(execution)
        if retried:  # what HasRetryAttempt conditions of Flow triggers look at
            metadata[RETRIED_KEY] = MetadataValue.json(retried)
        metrics = [m for r in execution.task_runs for m in r.metrics]
        if metrics:
            metadata["kestra/metrics"] = MetadataValue.json(metrics_summary(metrics))
            metadata.update(metrics_metadata(metrics))
        if output_error:
            raise TaskFailure(f"flow outputs could not be rendered: {output_error}", metadata={"kestra/state": state.value})
        if state in (State.FAILED, State.KILLED) and not execution.failed_steps:
            # No task step failed (an SLA, a failure that was allowed inside): fail here, so the
            # run's Dagster status is Kestra's.
            raise TaskFailure(f"execution ended {state.value}" + _end_reason(execution), metadata={
                "kestra/state": state.value, **({RETRIED_KEY: metadata[RETRIED_KEY]} if retried else {})})
        if state == State.PAUSED:  # the execution goes on in the next part job: no afterExecution yet
            context.log.info(f"execution {execution.execution_id} waits at a gate; afterExecution runs when it ends")
            return
        yield Output(execution, OK, metadata=metadata)

    return compute


#: kestra_end's metadata: the task runs that took more than one attempt (``retried_task_runs``).
RETRIED_KEY = "kestra/retried_task_runs"
#: Most retried task runs listed there (a ForEach of retried items could list thousands).
MAX_RETRIED_LISTED = 500


def retried_task_runs(execution: ExecutionState) -> list[dict[str, Any]]:
    """Task runs with more than one attempt, each attempt's state as Kestra lists them: every
    attempt before the last ended FAILED (the engine retries only a failed attempt)."""
    out = []
    for r in execution.task_runs:
        if r.attempts > 1:
            out.append({"taskId": r.task_id, "value": "/".join(r.values) or None,
                        "attempts": [{"state": "FAILED"}] * (r.attempts - 1) + [{"state": r.state}]})
    return out[:MAX_RETRIED_LISTED]


def _end_reason(execution: ExecutionState) -> str:
    errors = [f"{r.task_id}: {r.error}" for r in execution.task_runs if r.error]
    return (": " + "; ".join(errors[-3:])) if errors else ""


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


# ============================================================================ presentation
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


def _seconds(started: str, ended: str) -> float:
    try:
        return (datetime.fromisoformat(ended.replace("Z", "+00:00"))
                - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds()
    except ValueError:
        return 0.0


def runs_table(records) -> str:
    """Children that ran inside one op, as Kestra lists them: task, value, state, attempts, duration."""
    rows = ["| task | value | state | attempts | duration |", "|---|---|---|---|---|"]
    for r in records[:200]:
        value = "/".join(r.values) or ""
        rows.append(f"| {r.task_id} | {value} | {r.state} | {r.attempts} | {_seconds(r.started, r.ended):.3f}s |")
    if len(records) > 200:
        rows.append(f"| … {len(records) - 200} more | | | | |")
    return "\n".join(rows)


def metrics_summary(metrics: list[dict]) -> dict[str, Any]:
    """Metrics folded by name and tags: counters and timers summed (with a count), gauges last value.

    Entries are ``TaskRunRecord.metrics`` items (already folded per task run, with their count).
    """
    out: dict[str, Any] = {}
    for m in metrics:
        tags = ",".join(f"{k}={v}" for k, v in sorted(m.get("tags", {}).items()))
        key = f"{m['name']}{{{tags}}}" if tags else m["name"]
        entry = out.setdefault(key, {"type": m["type"], "value": 0.0, "count": 0})
        entry["count"] += m.get("count", 1)
        entry["value"] = m["value"] if m["type"] == "gauge" else entry["value"] + m["value"]
    return out


def metrics_metadata(metrics: list[dict], prefix: str = "metric") -> dict[str, Any]:
    """One numeric metadata entry per metric (``metric/<name>``), plus the detail as JSON."""
    if not metrics:
        return {}
    summary = metrics_summary(metrics)
    found: dict[str, Any] = {f"{prefix}/{key}": MetadataValue.float(entry["value"]) for key, entry in summary.items()}
    found["kestra/metrics_detail"] = MetadataValue.json([{k: m[k] for k in ("name", "type", "value", "tags")} for m in metrics[:500]])
    return found


__all__ = ["RunSetup", "make_start_fn", "make_task_fn", "make_head_fn", "make_tail_fn", "make_end_fn", "utcnow_iso"]
