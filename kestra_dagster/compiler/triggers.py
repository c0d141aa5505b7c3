"""Flow ``triggers`` → Dagster schedules and sensors.

=================  ==========================================================================
Kestra trigger     Dagster
=================  ==========================================================================
Schedule           ``ScheduleDefinition`` (cron, timezone; ``trigger.date/next/previous`` and the
                   rendered ``inputs`` go in the run config; calendar ``conditions`` and
                   ``recoverMissedSchedules``/``lateMaximumDelay`` skip ticks)
ScheduleOnDates    sensor that requests one run per listed date once it has passed
Webhook (+ Git)    sensor over the delivery store written by the intake; ``run_key`` = delivery id
Flow               ``run_status_sensor`` per Dagster status the listened states need
aws.s3.Trigger     sensor polling the bucket (``triggers.s3_poll``)
http.Trigger       sensor polling a URL; a run whenever ``responseCondition`` holds
git Polling        sensor running ``git ls-remote`` (``triggers.git_poll``)
=================  ==========================================================================

Every run a trigger starts carries ``kestra/trigger`` (type) and ``kestra/trigger_id`` tags, and
the run config ``{"inputs", "trigger", "labels"}`` the compiled job expects. A trigger that
cannot be compiled is logged and left out; the rest of the code location still loads.

``recoverMissedSchedules`` (Kestra's server default is ALL):

* ``ALL``: every missed tick runs (Dagster's catch-up; bounded by the instance setting
  ``schedules: max_catchup_runs``, 5 by default);
* ``LAST``: a tick is skipped when a later tick is already due, so only the last missed one runs;
* ``NONE``: as LAST, and the last missed tick is skipped too when it is more than
  ``lateMaximumDelay`` (default 5 minutes) late.

``lateMaximumDelay`` always skips ticks later than that delay.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable
from zoneinfo import ZoneInfo

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    SensorDefinition,
    SkipReason,
    run_status_sensor,
    sensor,
)

from kestra_dagster.compiler.naming import LABEL_TAG_PREFIX, dagster_name
from kestra_dagster.model.common import parse_duration
from kestra_dagster.model.flow import Flow, label_map
from kestra_dagster.triggers.conditions import MULTIPLE, ConditionContext, all_true, condition_type, evaluate
from kestra_dagster.triggers.models import (
    FlowTrigger,
    GitPolling,
    HttpTrigger,
    S3Trigger,
    Schedule,
    ScheduleOnDates,
    TimeWindow,
    Webhook,
)

if TYPE_CHECKING:
    from kestra_dagster.compiler.definitions import FlowCatalog
    from kestra_dagster.compiler.translator import CompiledFlow

log = logging.getLogger("kestra_dagster")

TAG_TRIGGER = "kestra/trigger"
TAG_TRIGGER_ID = "kestra/trigger_id"
#: Sensors poll at most this often (the daemon's loop adds its own floor, see ``triggers.daemon``).
WEBHOOK_SENSOR_INTERVAL = 1
DEFAULT_NONE_GRACE = timedelta(minutes=5)
TERMINAL_STATES = ("SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED")


class TriggerCompileError(ValueError):
    pass


# ============================================================================ entry point


def build_triggers(catalog: "FlowCatalog") -> tuple[list[ScheduleDefinition], list[SensorDefinition]]:
    schedules: list[ScheduleDefinition] = []
    sensors: list[SensorDefinition] = []
    for compiled in catalog.flows.values():
        flow = compiled.flow
        for trigger in flow.triggers:
            try:
                if isinstance(trigger, Schedule):
                    schedules.append(build_schedule(compiled, trigger))
                elif isinstance(trigger, Webhook):
                    sensors.append(build_webhook_sensor(compiled, trigger))
                elif isinstance(trigger, FlowTrigger):
                    sensors.extend(build_flow_sensors(compiled, trigger, catalog))
                elif isinstance(trigger, S3Trigger):
                    sensors.append(build_s3_sensor(compiled, trigger))
                elif isinstance(trigger, GitPolling):
                    sensors.append(build_git_sensor(compiled, trigger))
                elif isinstance(trigger, HttpTrigger):
                    sensors.append(build_http_sensor(compiled, trigger))
                elif isinstance(trigger, ScheduleOnDates):
                    sensors.append(build_dates_sensor(compiled, trigger))
                elif callable(getattr(trigger, "build_sensor", None)):  # plugin triggers (e.g. fs.local.Trigger)
                    sensors.append(trigger.build_sensor(compiled))
                else:
                    log.error("kestra-dagster: trigger %s of flow %s (%s) has no Dagster translation; ignored",
                              trigger.id, flow.uid, trigger.type)
            except TriggerCompileError as exc:
                log.error("kestra-dagster: trigger %s of flow %s is not active: %s", trigger.id, flow.uid, exc)
        sensors.extend(_gate_sensors(compiled))
    return schedules, sensors


def _gate_sensors(compiled: "CompiledFlow") -> list[SensorDefinition]:
    if len(compiled.job_names) == 1:  # no gate: no part jobs (checked without building the jobs)
        return []
    from kestra_dagster.approvals.sensor import build_resume_sensor

    return [build_resume_sensor(compiled)]


# ============================================================================ shared helpers


def instigator_name(compiled: "CompiledFlow", trigger, suffix: str = "") -> str:
    return dagster_name(f"{compiled.job_names[0]}__{trigger.id}{suffix}")


def check_inputs(flow: Flow, given: dict[str, Any] | None) -> None:
    """Raise ``InputError`` (every problem listed) when the flow would reject these trigger inputs,
    so a bad delivery or tick is refused by itself instead of failing the whole sensor tick."""
    from kestra_dagster.engine.inputs import resolve_inputs

    resolve_inputs(flow, dict(given or {}))


def make_run_request(compiled: "CompiledFlow", trigger, trigger_vars: dict[str, Any], run_key: str | None,
                     inputs: dict[str, Any] | None = None, tags: dict[str, str] | None = None,
                     job_name: str | None = None) -> RunRequest:
    check_inputs(compiled.flow, inputs)
    labels = {str(k): str(v) for k, v in label_map(trigger.labels).items()}
    run_config = compiled.run_config(inputs, trigger_vars, labels)
    all_tags = {TAG_TRIGGER: trigger.type.rsplit(".", 1)[-1], TAG_TRIGGER_ID: trigger.id, **(tags or {})}
    return RunRequest(run_key=run_key, run_config=run_config, tags=all_tags, job_name=job_name or compiled.job.name)


def _render(value: Any, variables: dict) -> Any:
    from kestra_dagster.triggers.render import render

    return render(value, variables)


def _flow_vars(flow: Flow) -> dict[str, Any]:
    from kestra_dagster.triggers.server import flow_variables

    return flow_variables(flow)


def _conditions_hold(trigger, now: datetime, variables: dict, execution: dict | None = None) -> bool:
    from kestra_dagster.triggers.render import renderer

    conditions = [c for c in trigger.conditions if condition_type(c) != MULTIPLE]
    if isinstance(trigger, Schedule):
        conditions += list(trigger.scheduleConditions or [])
    if not conditions:
        return True
    return all_true(conditions, ConditionContext(now=now, variables=variables, execution=execution, render=renderer()))


def _status(trigger) -> DefaultSensorStatus:
    return DefaultSensorStatus.STOPPED if trigger.disabled else DefaultSensorStatus.RUNNING


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


# ============================================================================ Schedule


_NICKNAMES = {"@annually": "@yearly", "@midnight": "@daily"}


def dagster_cron(trigger: Schedule) -> str:
    cron = trigger.cron.strip()
    if cron.lower() in _NICKNAMES or cron.startswith("@"):
        return _NICKNAMES.get(cron.lower(), cron.lower())
    fields = cron.split()
    if trigger.withSeconds:
        if fields[0] not in ("0", "00"):
            raise TriggerCompileError(
                f"cron {cron!r} fires at second {fields[0]!r}: Dagster schedules have minute granularity, "
                "so withSeconds only works with a seconds field of 0"
            )
        fields = fields[1:]
    from dagster._utils.schedules import is_valid_cron_string  # private, but the check Dagster itself runs

    text = " ".join(fields)
    if not is_valid_cron_string(text):
        raise TriggerCompileError(f"cron {cron!r} is not a cron expression Dagster can run")
    return text


def schedule_times(cron: str, tz: str, scheduled: datetime) -> tuple[datetime, datetime]:
    """(previous tick, next tick) around ``scheduled`` for Kestra's ``trigger.previous/next``."""
    from dagster._utils.schedules import cron_string_iterator, reverse_cron_string_iterator

    nxt = next(cron_string_iterator(scheduled.timestamp() + 1, cron, tz))
    prev = next(reverse_cron_string_iterator(scheduled.timestamp() - 1, cron, tz))
    return prev, nxt


def build_schedule(compiled: "CompiledFlow", trigger: Schedule, now: Callable[[], float] = time.time) -> ScheduleDefinition:
    cron = dagster_cron(trigger)
    tz = trigger.timezone or "UTC"
    flow = compiled.flow
    late_max = parse_duration(trigger.lateMaximumDelay) if trigger.lateMaximumDelay else None
    policy = trigger.recoverMissedSchedules or "ALL"

    def execution_fn(context):
        scheduled = context.scheduled_execution_time or datetime.now(timezone.utc)
        if scheduled.tzinfo is None:
            scheduled = scheduled.replace(tzinfo=timezone.utc)
        scheduled = scheduled.astimezone(ZoneInfo(tz))
        previous, following = schedule_times(cron, tz, scheduled)
        lateness = timedelta(seconds=max(0.0, now() - scheduled.timestamp()))
        if late_max is not None and lateness > late_max:
            return SkipReason(f"tick {scheduled.isoformat()} is {lateness} late (lateMaximumDelay {trigger.lateMaximumDelay})")
        if policy in ("LAST", "NONE") and following.timestamp() <= now():
            return SkipReason(f"tick {scheduled.isoformat()} was missed and a later one is due "
                              f"(recoverMissedSchedules: {policy})")
        if policy == "NONE" and lateness > (late_max or DEFAULT_NONE_GRACE):
            return SkipReason(f"tick {scheduled.isoformat()} was missed (recoverMissedSchedules: NONE)")
        trig = {"date": _iso(scheduled), "next": _iso(following), "previous": _iso(previous)}
        variables = {**_flow_vars(flow), "trigger": trig}
        if not _conditions_hold(trigger, scheduled, variables):
            return SkipReason(f"conditions of trigger {trigger.id} are false for {scheduled.isoformat()}")
        inputs = _render(trigger.inputs, variables) if trigger.inputs else {}
        return make_run_request(compiled, trigger, trig, run_key=f"{trigger.id}:{scheduled.isoformat()}", inputs=inputs)

    return ScheduleDefinition(
        name=instigator_name(compiled, trigger),
        cron_schedule=cron,
        execution_timezone=tz,
        job=compiled.job,
        execution_fn=execution_fn,
        description=f"Kestra Schedule `{trigger.id}` of `{flow.uid}`: `{trigger.cron}` ({tz})"
                    + (f"\n\n{trigger.description}" if trigger.description else ""),
        default_status=DefaultScheduleStatus.STOPPED if trigger.disabled else DefaultScheduleStatus.RUNNING,
    )


# ============================================================================ ScheduleOnDates


def build_dates_sensor(compiled: "CompiledFlow", trigger: ScheduleOnDates) -> SensorDefinition:
    from kestra_dagster.triggers.conditions import parse_datetime

    flow = compiled.flow
    tz = trigger.timezone or "UTC"

    @sensor(name=instigator_name(compiled, trigger), job=compiled.job, minimum_interval_seconds=30,
            default_status=_status(trigger), description=f"Kestra ScheduleOnDates `{trigger.id}` of `{flow.uid}`")
    def _dates(context):
        now = datetime.now(timezone.utc)
        since = datetime.fromisoformat(context.cursor) if context.cursor else now - timedelta(seconds=60)
        raw = _render(trigger.dates, _flow_vars(flow))
        dates = raw if isinstance(raw, list) else json.loads(raw)
        due = sorted(d for d in (parse_datetime(x, ZoneInfo(tz)) for x in dates) if since < d <= now)
        context.update_cursor(now.isoformat())
        if not due:
            return SkipReason("no date passed since the last check")
        requests = []
        for when in due:
            trig = {"date": when.isoformat()}
            inputs = _render(trigger.inputs, {**_flow_vars(flow), "trigger": trig}) if trigger.inputs else {}
            requests.append(make_run_request(compiled, trigger, trig, run_key=f"{trigger.id}:{when.isoformat()}",
                                             inputs=inputs))
        return requests

    return _dates


# ============================================================================ Webhook


_stores: dict[int, Any] = {}


def delivery_store(instance):
    from kestra_dagster.triggers.store import DeliveryStore

    store = _stores.get(id(instance))
    if store is None or store.instance is not instance:
        store = _stores[id(instance)] = DeliveryStore(instance)
    return store


def build_webhook_sensor(compiled: "CompiledFlow", trigger: Webhook) -> SensorDefinition:
    from kestra_dagster.triggers.store import TAG_DELIVERY

    flow = compiled.flow

    @sensor(name=instigator_name(compiled, trigger, "__webhook"), job=compiled.job,
            minimum_interval_seconds=WEBHOOK_SENSOR_INTERVAL, default_status=_status(trigger),
            description=f"Runs `{flow.uid}` for each stored delivery of its webhook `{trigger.id}` "
                        f"(POST /api/v1/executions/webhook/{flow.namespace}/{flow.id}/<key>)")
    def _webhook(context):
        store = delivery_store(context.instance)
        pending = store.pending(flow.uid, trigger.id)
        if not pending:
            return SkipReason("no pending delivery")
        launched = store.runs_for(d.delivery_id for d in pending)
        store.mark_launched(launched)
        requests = []
        for delivery in pending:
            if delivery.delivery_id in launched:
                continue
            trig = delivery.payload.get("trigger") or {}
            trig_vars = {k: v for k, v in trig.items() if k != "method"}
            try:
                request = _delivery_request(compiled, trigger, delivery.delivery_id, trig_vars)
            except Exception as exc:  # noqa: BLE001 - one bad delivery (RecursionError included) must not block the others
                context.log.error(f"delivery {delivery.delivery_id} rejected: {exc}")
                store.mark_rejected(delivery.delivery_id, str(exc))
                continue
            requests.append(request)
        if not requests:
            return SkipReason(f"{len(launched)} deliveries already have their run")
        return requests

    return _webhook


def _delivery_request(compiled: "CompiledFlow", trigger: Webhook, delivery_id: str, trig_vars: dict) -> RunRequest:
    """The run request of one stored delivery, checked here so that a delivery that cannot become a
    run (too deep for Dagster to serialise, inputs that do not render) fails alone instead of failing
    the tick. The depth is the one thing a JSON payload can break serialisation with; checking it
    costs microseconds, where serialising every request here would cost ~1.5 ms per delivery."""
    from kestra_dagster.triggers.json_limits import DEFAULT_MAX_JSON_DEPTH, value_depth
    from kestra_dagster.triggers.store import TAG_DELIVERY

    limit = DEFAULT_MAX_JSON_DEPTH + 2  # the trigger map and its body/headers wrap the payload
    if value_depth(trig_vars, limit) > limit:
        raise ValueError(f"the delivery is nested more than {DEFAULT_MAX_JSON_DEPTH} levels deep; it cannot become a run")
    inputs = _render(trigger.inputs, {**_flow_vars(compiled.flow), "trigger": trig_vars}) if trigger.inputs else {}
    return make_run_request(compiled, trigger, trig_vars, run_key=delivery_id, inputs=inputs,
                            tags={TAG_DELIVERY: delivery_id, TAG_TRIGGER: "webhook"})


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


# ============================================================================ S3


def build_s3_sensor(compiled: "CompiledFlow", trigger: S3Trigger) -> SensorDefinition:
    from kestra_dagster.engine.storage import default_storage, namespace_parts
    from kestra_dagster.triggers import s3_poll

    flow = compiled.flow
    interval = max(1, int(parse_duration(trigger.interval).total_seconds()))
    name = instigator_name(compiled, trigger)
    props_fields = ("accessKeyId", "secretKeyId", "sessionToken", "region", "endpointOverride", "forcePathStyle",
                    "compatibilityMode", "bucket", "prefix", "delimiter", "regexp")

    @sensor(name=name, job=compiled.job, minimum_interval_seconds=interval, default_status=_status(trigger),
            description=f"Kestra aws.s3.Trigger `{trigger.id}` of `{flow.uid}`: polls s3://{trigger.bucket}/"
                        f"{trigger.prefix or ''} every {trigger.interval}, action {trigger.action}")
    def _s3(context):
        props = _render({k: getattr(trigger, k) for k in props_fields}, _flow_vars(flow))
        props["moveTo"] = _render(trigger.moveTo.model_dump(), _flow_vars(flow)) if trigger.moveTo else None
        storage = default_storage()

        def store_object(batch: str, key: str, data: bytes) -> str:
            prefix = [*namespace_parts(flow.namespace), flow.id, "triggers", trigger.id, batch]
            return storage.put_bytes_at(prefix, data, key)

        def run_exists(run_key: str) -> bool:
            return bool(context.instance.get_run_ids(
                filters=RunsFilter(tags={"dagster/run_key": run_key, "dagster/sensor_name": name}), limit=1))

        cursor = s3_poll.S3Cursor.load(context.cursor)
        result = s3_poll.poll(trigger, props, cursor, s3_poll.make_client(props), run_exists, store_object)
        context.update_cursor(result.cursor.dump())
        if result.actions_done:
            context.log.info(f"{trigger.action} applied for {len(result.actions_done)} processed batch(es)")
        if not result.requests:
            return SkipReason("no new object")
        requests = []
        for run_key, objects in result.requests:
            trig = {"objects": [{k: o[k] for k in ("key", "uri", "size", "lastModified", "eTag", "bucket")}
                                for o in objects]}
            requests.append(make_run_request(compiled, trigger, trig, run_key=run_key, tags={"kestra/s3_objects": str(len(objects))}))
        return requests

    return _s3


# ============================================================================ HTTP polling


def build_http_sensor(compiled: "CompiledFlow", trigger: HttpTrigger) -> SensorDefinition:
    """``http.Trigger``: one request per interval; a run whenever ``responseCondition`` is true."""
    import httpx

    from kestra_dagster.expressions import is_truthy

    flow = compiled.flow
    interval = max(1, int(parse_duration(trigger.interval).total_seconds()))

    @sensor(name=instigator_name(compiled, trigger), job=compiled.job, minimum_interval_seconds=interval,
            default_status=_status(trigger),
            description=f"Polls {trigger.method} {trigger.uri} every {trigger.interval} for `{flow.uid}`")
    def _http(context):
        variables = _flow_vars(flow)
        props = _render({"uri": trigger.uri, "body": trigger.body, "headers": trigger.headers,
                         "formData": trigger.formData}, variables)
        headers = {str(k): str(v) for k, v in (props["headers"] or {}).items()}
        if trigger.contentType:
            headers.setdefault("Content-Type", trigger.contentType)
        timeout = parse_duration((trigger.options or {}).get("readTimeout", "PT30S")).total_seconds()
        try:
            response = httpx.request(trigger.method, props["uri"], headers=headers, content=props["body"],
                                     data=props["formData"], timeout=timeout)
        except httpx.HTTPError as exc:
            return SkipReason(f"request failed: {type(exc).__name__}")
        resp = {"statusCode": response.status_code, "body": response.text,
                "headers": {k: response.headers.get_list(k) for k in response.headers.keys()}}
        if not is_truthy(_render(trigger.responseCondition, {**variables, "response": resp})):
            return SkipReason(f"responseCondition is false (HTTP {response.status_code})")
        trig = {"uri": props["uri"], "code": response.status_code, "headers": resp["headers"],
                "body": "(encrypted: not kept with the run)" if trigger.encryptBody else response.text}
        now = datetime.now(timezone.utc)
        if not _conditions_hold(trigger, now, {**variables, "trigger": trig}):
            return SkipReason(f"conditions of {trigger.id} are false")
        inputs = _render(trigger.inputs, {**variables, "trigger": trig}) if trigger.inputs else {}
        return make_run_request(compiled, trigger, trig, run_key=f"{trigger.id}:{now.isoformat()}", inputs=inputs)

    return _http


# ============================================================================ Git polling


def build_git_sensor(compiled: "CompiledFlow", trigger: GitPolling) -> SensorDefinition:
    from kestra_dagster.triggers import git_poll

    flow = compiled.flow
    interval = max(1, int(parse_duration(trigger.interval).total_seconds()))

    @sensor(name=instigator_name(compiled, trigger), job=compiled.job, minimum_interval_seconds=interval,
            default_status=_status(trigger),
            description=f"Polls {trigger.url} (git ls-remote) every {trigger.interval} for `{flow.uid}`")
    def _git(context):
        variables = _flow_vars(flow)
        url = _render(trigger.url, variables)
        username = _render(trigger.username, variables) if trigger.username else None
        password = _render(trigger.password, variables) if trigger.password else None
        refs = git_poll.ls_remote(git_poll.with_credentials(url, username, password), secrets=(password or "",))
        previous = git_poll.load_cursor(context.cursor)
        found = git_poll.changes(previous, refs, trigger.branches, trigger.tags, url)
        context.update_cursor(json.dumps(refs, sort_keys=True))
        if previous is None:
            return SkipReason(f"first poll: {len(refs)} refs recorded, nothing runs for existing history")
        requests = []
        for change in found:
            variables = {**_flow_vars(flow), "trigger": change}
            if not _conditions_hold(trigger, datetime.now(timezone.utc), variables):
                continue
            inputs = _render(trigger.inputs, variables) if trigger.inputs else {}
            requests.append(make_run_request(compiled, trigger, change, run_key=f"{change['ref']}@{change['commit']}",
                                             inputs=inputs, tags={"kestra/git_ref": change["ref"][:200]}))
        return requests or SkipReason("no matching ref moved")

    return _git
