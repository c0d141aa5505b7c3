"""The ``Flow`` trigger → ``run_status_sensor``s per Dagster status its states need, with
preconditions (``where``/``filters``, SLA windows) checked against the instance's runs."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable
from zoneinfo import ZoneInfo

from dagster import DagsterRunStatus, SensorDefinition, SkipReason, run_status_sensor

from kestra_dagster.compiler.naming import LABEL_TAG_PREFIX
from kestra_dagster.model.common import parse_duration
from kestra_dagster.model.flow import label_map
from kestra_dagster.triggers.conditions import MULTIPLE, ConditionContext, condition_type, evaluate
from kestra_dagster.triggers.models import FlowTrigger, TimeWindow
from kestra_dagster.compiler.triggers.common import (
    TERMINAL_STATES,
    TriggerCompileError,
    instigator_name,
    make_run_request,
    _render,
    _conditions_hold,
    _status,
)

if TYPE_CHECKING:
    from kestra_dagster.compiler.definitions import FlowCatalog
    from kestra_dagster.compiler.translator import CompiledFlow

log = logging.getLogger("kestra_dagster")


# ============================================================================ Flow trigger


_DAGSTER_STATUS_OF = {
    "RUNNING": DagsterRunStatus.STARTED,
    "SUCCESS": DagsterRunStatus.SUCCESS,
    "WARNING": DagsterRunStatus.SUCCESS,
    "PAUSED": DagsterRunStatus.SUCCESS,
    "CANCELLED": DagsterRunStatus.SUCCESS,
    "SKIPPED": DagsterRunStatus.SUCCESS,
    "RETRIED": DagsterRunStatus.FAILURE,
    "FAILED": DagsterRunStatus.FAILURE,
    "KILLED": DagsterRunStatus.CANCELED,
}


def kestra_state_of(run) -> str:
    """The Kestra state of a Dagster run: the ``kestra/state`` tag our end node sets, else its status."""
    tagged = run.tags.get("kestra/state")
    if run.status == DagsterRunStatus.STARTED:
        return "RUNNING"
    if run.status == DagsterRunStatus.CANCELED:
        return "KILLED"
    if tagged:
        return tagged
    return {DagsterRunStatus.SUCCESS: "SUCCESS", DagsterRunStatus.FAILURE: "FAILED"}.get(run.status, str(run.status))


def run_outputs(instance, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(task outputs by task id, flow outputs) of a finished run, from its output metadata."""
    from dagster import DagsterEventType

    task_outputs: dict[str, Any] = {}
    flow_outputs: dict[str, Any] = {}
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_OUTPUT).records
    for record in records:
        event = record.event_log_entry.dagster_event
        metadata = event.step_output_data.metadata if event and event.step_output_data else {}
        task_id = metadata.get("kestra/task_id")
        if task_id is not None and "kestra/outputs" in metadata:
            task_outputs[task_id.value] = metadata["kestra/outputs"].value
        if "kestra/flow_outputs" in metadata:
            flow_outputs = metadata["kestra/flow_outputs"].value or {}
    return task_outputs, flow_outputs


def retried_task_runs_of(instance, run_id: str) -> list[dict[str, Any]]:
    """The task runs of a finished run that took several attempts, as its end node listed them
    (``ops.retried_task_runs``): Kestra's ``taskRunList`` as far as HasRetryAttempt needs it."""
    from dagster import DagsterEventType

    from kestra_dagster.compiler.ops import END_NODE, RETRIED_KEY

    for kind in (DagsterEventType.STEP_OUTPUT, DagsterEventType.STEP_FAILURE):
        for record in instance.get_records_for_run(run_id, of_type=kind).records:
            entry = record.event_log_entry
            if entry.step_key != END_NODE or entry.dagster_event is None:
                continue
            event = entry.dagster_event
            data = event.step_output_data if kind == DagsterEventType.STEP_OUTPUT else (
                event.step_failure_data.user_failure_data if event.step_failure_data else None)
            metadata = getattr(data, "metadata", None) or {}
            if RETRIED_KEY in metadata:
                return list(metadata[RETRIED_KEY].value or [])
    return []


def _uses_condition(conditions, type_suffix: str) -> bool:
    """Whether ``type_suffix`` conditions appear among ``conditions``, nested ones included."""
    for cond in conditions or []:
        if condition_type(cond).endswith(type_suffix):
            return True
        subs = cond.get("conditions")
        if _uses_condition(list(subs.values()) if isinstance(subs, dict) else subs, type_suffix):
            return True
    return False


def _listened_flows(trigger: FlowTrigger) -> set[str] | None:
    """Flow uids the trigger can fire on, when its conditions say; None = any flow."""
    uids: set[str] = set()

    def walk(conditions):
        for cond in conditions:
            kind = condition_type(cond)
            if kind.endswith(".ExecutionFlow"):
                uids.add(f"{cond.get('namespace')}.{cond.get('flowId')}")
            elif kind == MULTIPLE:
                walk(list((cond.get("conditions") or {}).values()))

    walk(trigger.conditions)
    if trigger.preconditions:
        uids.update(f"{f.namespace}.{f.flowId}" for f in trigger.preconditions.flows)
        if trigger.preconditions.where or any(f.flowId is None for f in trigger.preconditions.flows):
            return None  # a whole namespace, or filters: watch every job
    direct = [c for c in trigger.conditions if condition_type(c).endswith(".ExecutionFlow")]
    multiple = [c for c in trigger.conditions if condition_type(c) == MULTIPLE]
    if direct or trigger.preconditions or multiple:
        return uids or None
    return None


def build_flow_sensors(compiled: "CompiledFlow", trigger: FlowTrigger, catalog: "FlowCatalog") -> list[SensorDefinition]:
    states = trigger.states or list(TERMINAL_STATES)
    statuses = sorted({_DAGSTER_STATUS_OF[s] for s in states if s in _DAGSTER_STATUS_OF}, key=lambda s: s.value)
    listened = _listened_flows(trigger)
    monitored = None
    if listened is not None:
        monitored = []
        for uid in sorted(listened):
            other = catalog.flows.get(uid)
            if other is None:
                log.warning("kestra-dagster: Flow trigger %s of %s listens to %s, which is not loaded",
                            trigger.id, compiled.flow.uid, uid)
                continue
            monitored.extend(other.jobs)
        if not monitored:
            raise TriggerCompileError(f"none of the flows it listens to ({', '.join(sorted(listened))}) is loaded")
    evaluate_run = flow_trigger_evaluator(compiled, trigger, states)
    sensors = []
    for status in statuses:
        suffix = f"__on_{status.value.lower()}"

        def fn(context, _evaluate=evaluate_run):
            return _evaluate(context.instance, context.dagster_run)

        sensors.append(run_status_sensor(
            run_status=status, name=instigator_name(compiled, trigger, suffix), monitored_jobs=monitored,
            request_job=compiled.job, default_status=_status(trigger), minimum_interval_seconds=1,
            description=f"Kestra Flow trigger `{trigger.id}` of `{compiled.flow.uid}` (states {', '.join(states)})",
        )(fn))
    return sensors


def flow_trigger_evaluator(compiled: "CompiledFlow", trigger: FlowTrigger, states: list[str],
                           clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
    """``(instance, run) -> RunRequest | SkipReason`` for one finished run (also used by tests, which
    set ``clock`` to place executions inside or outside a time window)."""
    target = compiled.flow
    checks = _named_checks(trigger)
    needs_attempts = _uses_condition(trigger.conditions, ".HasRetryAttempt")

    def evaluate_run(instance, run):
        uid = run.tags.get("kestra/flow")
        if uid is None:
            return SkipReason(f"run {run.run_id} is not a Kestra flow")
        if uid == target.uid:
            return SkipReason("a flow does not trigger itself")
        state = kestra_state_of(run)
        if state not in states:
            return SkipReason(f"{uid} ended {state}, not in {states}")
        execution_id = run.tags.get("kestra/execution_id", run.run_id)
        task_outputs, flow_outputs = run_outputs(instance, run.run_id) if state != "RUNNING" else ({}, {})
        namespace, flow_id = run.tags.get("kestra/namespace", ""), run.tags.get("kestra/flow_id", "")
        labels = {k[len(LABEL_TAG_PREFIX):]: v for k, v in run.tags.items() if k.startswith(LABEL_TAG_PREFIX)}
        trig = {"executionId": execution_id, "namespace": namespace, "flowId": flow_id, "flowRevision": 1,
                "state": state, "outputs": flow_outputs, "executionLabels": labels}
        execution = {"namespace": namespace, "flowId": flow_id, "state": state, "labels": labels,
                     "outputs": flow_outputs}
        if needs_attempts and state != "RUNNING":
            execution["taskRunList"] = retried_task_runs_of(instance, run.run_id)
        variables = {"trigger": trig, "outputs": task_outputs, "flow": {"namespace": namespace, "id": flow_id},
                     "labels": labels, "execution": {"id": execution_id, "state": state}}
        now = clock()
        if not _conditions_hold(trigger, now, variables, execution):
            return SkipReason(f"conditions of {trigger.id} are false for {uid} ({state})")
        if checks:
            fired, detail = _advance_checks(instance, compiled, trigger, checks, execution, variables, now)
            if not fired:
                return SkipReason(detail)
        inputs = _render(trigger.inputs, variables) if trigger.inputs else {}
        return make_run_request(compiled, trigger, trig, run_key=f"{trigger.id}:{execution_id}:{state}", inputs=inputs,
                                tags={"kestra/trigger_execution_id": execution_id, "kestra/trigger_flow": uid})

    return evaluate_run


def _named_checks(trigger: FlowTrigger) -> list[tuple[str, Callable[[dict, dict], bool]]]:
    """Stateful checks (MultipleCondition entries, preconditions): each must be met within the window."""
    from kestra_dagster.triggers.render import renderer

    checks: list[tuple[str, Callable[[dict, dict], bool]]] = []
    for cond in trigger.conditions:
        if condition_type(cond) != MULTIPLE:
            continue
        for name, sub in (cond.get("conditions") or {}).items():
            def check(execution, variables, sub=sub):
                ctx = ConditionContext(now=datetime.now(timezone.utc), variables=variables, execution=execution,
                                       render=renderer())
                return evaluate(sub, ctx)
            checks.append((f"{cond.get('id', 'multiple')}.{name}", check))
    pre = trigger.preconditions
    if pre is not None:
        for i, f in enumerate(pre.flows):
            def flow_check(execution, variables, f=f):
                if execution["namespace"] != f.namespace or f.flowId not in (None, execution["flowId"]):
                    return False
                if execution["state"] not in (f.states or ["SUCCESS"]):
                    return False
                wanted = label_map(f.labels)
                return all(str(execution["labels"].get(k)) == str(v) for k, v in wanted.items())
            checks.append((f"flows.{i}", flow_check))
        for where in pre.where:
            def where_check(execution, variables, where=where):
                results = [_filter_matches(flt, execution, variables) for flt in where.filters]
                return all(results) if where.operand == "AND" else any(results)
            checks.append((f"where.{where.id}", where_check))
    return checks


def _filter_matches(flt, execution: dict, variables: dict) -> bool:
    if flt.field == "EXPRESSION":
        from kestra_dagster.expressions import is_truthy

        value = is_truthy(_render(flt.value, variables))
        return value if flt.type in ("IS_TRUE", "EQUAL_TO") else not value
    actual = {"FLOW_ID": execution["flowId"], "NAMESPACE": execution["namespace"], "STATE": execution["state"]}[flt.field]
    values = flt.values if flt.values is not None else ([flt.value] if not isinstance(flt.value, list) else flt.value)
    first = str(values[0]) if values else ""
    ops = {
        "EQUAL_TO": lambda: actual == first, "NOT_EQUAL_TO": lambda: actual != first,
        "IN": lambda: actual in [str(v) for v in values], "NOT_IN": lambda: actual not in [str(v) for v in values],
        "STARTS_WITH": lambda: actual.startswith(first), "ENDS_WITH": lambda: actual.endswith(first),
        "CONTAINS": lambda: first in actual, "REGEX": lambda: re.fullmatch(first, actual) is not None,
    }
    if flt.type not in ops:
        raise TriggerCompileError(f"precondition filter type {flt.type} is not supported")
    return ops[flt.type]()


def _time_window(trigger: FlowTrigger) -> TimeWindow:
    """The window the stateful checks must all be met in: ``preconditions.timeWindow``, or a
    ``MultipleCondition``'s ``window``/``windowAdvance`` (a DURATION_WINDOW); default one day."""
    for cond in trigger.conditions:
        if condition_type(cond) == MULTIPLE and (cond.get("window") or cond.get("windowAdvance")):
            return TimeWindow(window=cond.get("window"), windowAdvance=cond.get("windowAdvance"))
    pre = trigger.preconditions
    if pre is not None and pre.timeWindow is not None:
        return pre.timeWindow
    return TimeWindow()


def window_bounds(tw: TimeWindow, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the window that an execution ending at ``now`` would open (Kestra's
    ``TimeWindow.boundaries``):

    * DURATION_WINDOW: consecutive windows of ``window`` (default 1 day) from midnight, shifted by
      ``windowAdvance`` (PT6H: 00-06, 06-12…; with windowAdvance PT3H: 03-09, 09-15…), the one
      holding ``now``;
    * SLIDING_WINDOW: ``window`` from ``now`` (the window opens with the first matching execution);
    * DAILY_TIME_WINDOW: today between ``startTime`` and ``endTime``;
    * DAILY_TIME_DEADLINE: today from midnight to ``deadline``.

    Daily times and midnight are taken in ``timezone`` (default: this server's zone, as Kestra)."""
    from kestra_dagster.triggers.conditions import parse_time

    zone = ZoneInfo(tw.timezone) if tw.timezone else datetime.now().astimezone().tzinfo
    local = now.astimezone(zone)

    def today_at(raw: str) -> datetime:
        at = parse_time(raw)
        return datetime.combine(local.date(), at.replace(tzinfo=None), tzinfo=zone)

    if tw.type == "DAILY_TIME_WINDOW":
        return today_at(tw.startTime), today_at(tw.endTime)
    if tw.type == "DAILY_TIME_DEADLINE":
        return datetime.combine(local.date(), datetime.min.time(), tzinfo=zone), today_at(tw.deadline)
    length = parse_duration(tw.window) if tw.window else timedelta(days=1)
    if tw.type == "SLIDING_WINDOW":
        return now, now + length
    anchor = datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)
    if tw.windowAdvance:
        anchor += parse_duration(tw.windowAdvance)
    start = anchor + length * ((local - anchor) // length)
    return start, start + length


def _advance_checks(instance, compiled, trigger, checks, execution, variables, now: datetime) -> tuple[bool, str]:
    """Record which checks this execution meets in the current time window; fire (and reset) once
    all are met. As in Kestra, an execution outside its window (a daily window before its start or
    after its end) counts for nothing; a window that has ended is replaced by the next one."""
    key = f"kestra/trigger-state/{compiled.flow.uid}/{trigger.id}"
    raw = instance.run_storage.get_cursor_values({key}).get(key)
    state = json.loads(raw) if raw else {}
    ts = now.timestamp()
    if not ("start" in state and state["start"] <= ts < state["end"]):  # also drops the pre-window format
        start, end = window_bounds(_time_window(trigger), now)
        state = {"start": start.timestamp(), "end": end.timestamp(), "met": {}}
    if not state["start"] <= ts < state["end"]:
        window = f"{datetime.fromtimestamp(state['start'], timezone.utc).isoformat()} – " \
                 f"{datetime.fromtimestamp(state['end'], timezone.utc).isoformat()}"
        return False, f"outside the time window ({window})"
    met = state["met"]
    for name, check in checks:
        if check(execution, variables):
            met[name] = ts
    missing = [name for name, _ in checks if name not in met]
    reset = trigger.preconditions.resetOnSuccess if trigger.preconditions else True
    instance.run_storage.set_cursor_values({key: json.dumps({} if not missing and reset else state)})
    if missing:
        return False, f"waiting for {', '.join(missing)}"
    return True, "all conditions met"
