"""The gate's two halves, as ops of consecutive part jobs (the compiler's side of Pause/Approval).

A flow with top-level ``Pause``/``Approval`` tasks compiles into part jobs split at each gate:

* the **pause half** ends part *k*: it runs ``onPause``/``onWait``, records the gate task PAUSED,
  writes a gate record (with the whole execution state, what to approve, the expiry) to the
  approval store, tags the run (``kestra/state=PAUSED`` via the end node, ``kestra/approval_id``,
  ``kestra/waiting_for``) and logs how to decide. The Dagster run ends SUCCESS; Kestra's state is
  PAUSED.
* the **resume half** starts part *k+1* (launched by the flow's resume sensor once a decision is
  recorded, or the gate expired): it restores the execution, applies the decision and the
  configured behaviour, runs ``onApprove``/``onDeny`` (Approval) or ``tasks`` (Pause), records
  the gate's outputs (``decision``, ``by``, ``on``, ``comment``, ``inputs``… / ``onResume``,
  ``resumed``) and routes: ``ok`` (the flow goes on), ``failed`` (errors/finally, FAILED) or
  ``stop`` (the rest is skipped, finally runs, the execution ends SUCCESS/CANCELLED/KILLED).

``approvals/`` keeps what does not depend on the graph: the decision store, the API and the page.

Nothing auto-approves unless the flow says so: a Pause without a duration waits forever; with a
duration its ``behavior`` (RESUME by default, as in Kestra) applies when it elapses; an Approval
expires only with a ``timeout`` and then follows ``expireBehavior`` (CANCEL by default).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from dagster import MetadataValue, Output, ResourceDefinition

from kestra_dagster.approvals.records import APPROVED, DENIED, EXPIRED, WAITING, GateRecord, iso_timestamp
from kestra_dagster.approvals.task import Approval
from kestra_dagster.engine.context import mask_secrets
from kestra_dagster.engine.execution import ExecutionState, TaskRunRecord, utcnow_iso
from kestra_dagster.engine.runner import Runner, Scope
from kestra_dagster.engine.states import State
from kestra_dagster.errors import ExpressionError
from kestra_dagster.model.common import Task, parse_duration

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow

STOP = "stop"
TAG_EXECUTION = "kestra/execution_id"
TAG_APPROVAL = "kestra/approval_id"
SUMMARY_BYTES = 16_000


# ----------------------------------------------------------------------------- execution state


def snapshot(execution: ExecutionState) -> dict[str, Any]:
    return json.loads(json.dumps(execution.to_json(), default=str))



# ----------------------------------------------------------------------------- gate properties


def gate_spec(gate: Task) -> dict[str, Any]:
    """What a decision must provide (input declarations, comment rule) and the labels to show."""
    if isinstance(gate, Approval):
        return {"type": gate.type, "inputs": list(gate.inputs), "commentRequired": gate.commentRequired,
                "decisions": {"approve": gate.decisions.approve, "deny": gate.decisions.deny},
                "expireBehavior": gate.expireBehavior}
    return {"type": gate.type, "inputs": list(getattr(gate, "onResume", None) or []), "commentRequired": "NEVER",
            "decisions": {"approve": "Resume", "deny": "Cancel"}, "expireBehavior": pause_expiry_behavior(gate)}


def pause_duration(gate: Task) -> str | None:
    if isinstance(gate, Approval):
        return gate.timeout
    return getattr(gate, "pauseDuration", None) or getattr(gate, "delay", None) or gate.timeout


def pause_expiry_behavior(gate: Task) -> str:
    """Kestra: ``behavior`` when given; else RESUME after ``pauseDuration``/``delay``, FAIL after a bare ``timeout``."""
    behavior = getattr(gate, "behavior", None)
    if behavior:
        return behavior
    return "RESUME" if (getattr(gate, "pauseDuration", None) or getattr(gate, "delay", None)) else "FAIL"


# ----------------------------------------------------------------------------- the part resource


@dataclass
class ResumeSetup:
    """``RunSetup`` for parts after a gate: the stored execution and the decision."""

    inputs: dict[str, Any]
    trigger: dict[str, Any]
    labels: dict[str, str]
    record: GateRecord


def resume_resource() -> ResourceDefinition:
    from dagster import Field

    def init(init_context) -> ResumeSetup:
        approval_id = init_context.resource_config["resume"]
        from kestra_dagster.approvals.store import ApprovalStore

        record = ApprovalStore(init_context.instance).get(approval_id)
        if record is None:
            from dagster import Failure

            raise Failure(description=f"no gate record {approval_id}: this part only runs after a decision")
        state = record.snapshot
        return ResumeSetup(inputs=state.get("inputs") or {}, trigger=state.get("trigger") or {},
                           labels=state.get("labels") or {}, record=record)

    return ResourceDefinition(resource_fn=init, config_schema={"resume": Field(str)},
                              description="The execution carried over from the gate, and the decision")


def resume_config_schema() -> dict:
    from dagster import Field

    return {"resume": Field(str, description="Approval record id (set by the resume sensor)")}


def to_resume_resource_config(config: dict) -> dict:
    from kestra_dagster.compiler.ops import RESOURCE_KEY

    return {"resources": {RESOURCE_KEY: {"config": {"resume": config["resume"]}}}}


# ----------------------------------------------------------------------------- pause half


def make_pause_fn(compiled: "CompiledFlow", gate: Task, part: int, next_job: str) -> Callable:
    from kestra_dagster.compiler.ops import OK, _incoming, _json_preview, failed_outputs, make_services

    def compute(context, inputs):
        execution = _incoming(inputs, compiled, context)
        services = make_services(context, compiled, execution)
        runner = Runner(compiled.flow, execution, services)
        started = utcnow_iso()
        log = services.logger_factory(gate.id, ())
        from kestra_dagster.approvals.store import ApprovalStore

        store = ApprovalStore(context.instance)

        def failed(error: str) -> list:
            log.error(error)
            execution.record(TaskRunRecord(task_id=gate.id, values=(), state=State.FAILED.value, started=started,
                                           ended=utcnow_iso(), error=error))
            execution.secret_names = list(services.secrets.names)
            return failed_outputs(context, execution, gate, State.FAILED, error,
                                  {"kestra/state": "FAILED", "kestra/task_id": gate.id, "kestra/error": error})

        try:
            skipped = not _should_run(runner, gate)
        except ExpressionError as exc:
            yield from failed(str(exc))
            return
        if skipped:  # runIf/when false: no wait, the next part starts right away with the gate SKIPPED
            log.info(f"skipped: condition {gate.run_condition!r} is false; no decision needed")
        if isinstance(gate, Approval):
            waiting = list(gate.onWait)
        else:
            waiting = [gate.onPause] if getattr(gate, "onPause", None) else []
        if waiting and not skipped and runner.run_list(waiting, Scope().child(gate)).is_failure:
            yield from failed("onWait/onPause failed")
            return
        duration = None if skipped else pause_duration(gate)
        expires_at = None
        if duration:
            try:
                seconds = parse_duration(runner.render(duration, Scope(), gate, prop="timeout")).total_seconds()
            except (ExpressionError, ValueError) as exc:
                yield from failed(f"invalid duration: {exc}")
                return
            expires_at = time.time() + seconds
        execution.record(TaskRunRecord(task_id=gate.id, values=(), state=State.PAUSED.value, started=started))
        execution_id = execution.execution_id
        summary = _summary(runner, gate, execution, services.secrets.revealed)
        record = GateRecord(
            approval_id=uuid.uuid4().hex, execution_id=execution_id, flow_uid=compiled.flow.uid, gate_id=gate.id,
            gate_type=gate.type, part=part, next_job=next_job, part_run_id=context.run_id, status=WAITING,
            created_at=time.time(), expires_at=expires_at, spec={**gate_spec(gate), "skipped": skipped},
            summary=summary, snapshot=snapshot(execution),
        )
        store.create(record)
        if skipped or (isinstance(gate, Approval) and gate.autoApprove):
            store.decide(record.approval_id, APPROVED, by="system" if skipped else "auto", auto=True)
        execution.secret_names = list(services.secrets.names)
        context.instance.add_run_tags(context.run_id, {
            TAG_EXECUTION: execution_id, TAG_APPROVAL: record.approval_id, "kestra/waiting_for": gate.id,
            **({"kestra/paused_until": iso_timestamp(expires_at)} if expires_at else {}),
        })
        until = f" until {iso_timestamp(expires_at)} (then {record.spec['expireBehavior']})" if expires_at else ""
        log.info(f"execution {execution_id} is PAUSED at '{gate.id}'{until}. Decide with "
                 f"`kestra-dagster resume {execution_id} --by NAME [--deny]`, POST /api/v1/executions/{execution_id}"
                 f"/resume or the approvals page")
        yield Output(execution, OK, metadata={
            "kestra/state": "PAUSED", "kestra/task_id": gate.id, "kestra/type": gate.type,
            "kestra/approval_id": record.approval_id,
            "kestra/waiting_for": MetadataValue.json(summary),
            "kestra/outputs_so_far": _json_preview(execution.outputs, services.secrets.revealed),
        })

    return compute


def _should_run(runner: Runner, gate: Task) -> bool:
    from kestra_dagster.expressions import is_truthy

    condition = gate.run_condition
    if condition is None:
        return True
    return is_truthy(runner.render(condition, Scope(), gate, prop="runIf"))


def _summary(runner: Runner, gate: Task, execution: ExecutionState, secrets: set[str]) -> dict[str, Any]:
    """What the reviewer sees: the gate's description and the outputs so far (secrets masked)."""
    description = None
    if gate.description:
        try:
            description = str(runner.render(gate.description, Scope(), gate, prop="description"))
        except Exception:  # noqa: BLE001 - a summary must never block the gate
            description = gate.description
    text = mask_secrets(json.dumps(execution.outputs, default=str), secrets)
    if len(text) > SUMMARY_BYTES:
        outputs: Any = text[:SUMMARY_BYTES] + "… (truncated)"
    else:
        outputs = json.loads(text)
    return {"description": description and mask_secrets(description, secrets), "outputs": outputs,
            "inputs": execution.inputs and json.loads(mask_secrets(json.dumps(execution.inputs, default=str), secrets))}


# ----------------------------------------------------------------------------- resume half

_BEHAVIOR_STATE = {
    "CONTINUE": (State.SUCCESS, False), "RESUME": (State.SUCCESS, False), "WARN": (State.WARNING, False),
    "FAIL": (State.FAILED, False), "SUCCEED": (State.SUCCESS, True), "CANCEL": (State.CANCELLED, True),
    "KILL": (State.KILLED, True),
}


def outcome(gate: Task, record: GateRecord) -> tuple[str, State, bool]:
    """(behaviour, gate state, stop the rest of the flow) for the recorded decision."""
    if isinstance(gate, Approval):
        behavior = {APPROVED: gate.approveBehavior, DENIED: gate.denyBehavior}.get(record.decision, gate.expireBehavior)
    elif record.decision == EXPIRED:
        behavior = pause_expiry_behavior(gate)
    else:
        behavior = "RESUME" if record.decision == APPROVED else "CANCEL"
    state, stop = _BEHAVIOR_STATE[behavior]
    return behavior, state, stop


def make_resume_fn(compiled: "CompiledFlow", gate: Task) -> Callable:
    from kestra_dagster.compiler.ops import OK, RESOURCE_KEY, _json_preview, failed_outputs, make_services

    def compute(context, inputs):
        setup: ResumeSetup = getattr(context.resources, RESOURCE_KEY)
        record = setup.record
        execution = ExecutionState.from_json(record.snapshot)
        services = make_services(context, compiled, execution)
        runner = Runner(compiled.flow, execution, services)
        log = services.logger_factory(gate.id, ())
        behavior, state, stop = outcome(gate, record)
        if record.spec.get("skipped"):
            behavior, state, stop = "SKIPPED", State.SKIPPED, False
        who = record.decided_by or "system"
        log.info(f"{record.decision} by {who} at {iso_timestamp(record.decided_at)}"
                 + (f": {record.comment}" if record.comment else "") + f" → {behavior}")
        context.instance.add_run_tags(context.run_id, {
            TAG_EXECUTION: execution.execution_id, TAG_APPROVAL: record.approval_id,
            "kestra/decision": record.decision or "", "kestra/decided_by": who[:255],
            "kestra/decided_at": iso_timestamp(record.decided_at) or "",
        })
        branch: list[Task] = []
        errors: list[Task] = list(getattr(gate, "errors", []) or [])
        finally_: list[Task] = list(getattr(gate, "finally_", []) or [])
        if isinstance(gate, Approval):
            branch = list(gate.onApprove if record.decision == APPROVED else gate.onDeny if record.decision == DENIED else [])
            outputs = {"decision": record.decision, "auto": record.auto, "by": who, "on": iso_timestamp(record.decided_at),
                       "comment": record.comment, "inputs": record.inputs, "due": iso_timestamp(record.expires_at),
                       "url": f"/approvals#{record.approval_id}"}
        else:
            branch = list(getattr(gate, "tasks", []) or [])
            to = "RUNNING" if not stop and state != State.FAILED else state.value
            outputs = {"onResume": record.inputs, "resumed": {"by": who, "on": iso_timestamp(record.decided_at), "to": to}}
        if state == State.SKIPPED:
            branch, finally_ = [], []
        else:
            runner.record_outputs(gate, Scope(), outputs)
        if branch or finally_:
            branch_state = runner.run_list(branch, Scope().child(gate), errors=errors, finally_=finally_)
            if branch_state.is_failure:  # a real failure inside a branch is never masked
                state, stop = State.FAILED, False
            elif branch_state == State.WARNING and state == State.SUCCESS:
                state = State.WARNING
        _close_gate_run(execution, gate.id, state, error=f"{record.decision} → {behavior}" if state.is_failure else None)
        execution.secret_names = list(services.secrets.names)
        metadata = {"kestra/state": state.value, "kestra/task_id": gate.id, "kestra/type": gate.type,
                    "kestra/decision": record.decision or "", "kestra/decided_by": who,
                    "kestra/outputs": _json_preview(outputs, services.secrets.revealed)}
        if state.is_failure:
            error = next((r.error for r in reversed(execution.task_runs) if r.task_id == gate.id and r.error), None)
            yield from failed_outputs(context, execution, gate, state, error, metadata)
        elif stop:
            yield Output(execution, STOP, metadata=metadata)
        else:
            yield Output(execution, OK, metadata=metadata)

    return compute


def _close_gate_run(execution: ExecutionState, gate_id: str, state: State, error: str | None) -> None:
    """Turn the gate's PAUSED task run into its final state (the PAUSED one would hold the flow PAUSED)."""
    for rec in reversed(execution.task_runs):
        if rec.task_id == gate_id and rec.parent is None and rec.state == State.PAUSED.value:
            rec.state, rec.ended, rec.error = state.value, utcnow_iso(), error
            return
    execution.record(TaskRunRecord(task_id=gate_id, values=(), state=state.value, started=utcnow_iso(),
                                   ended=utcnow_iso(), error=error))
