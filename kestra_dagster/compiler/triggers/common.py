"""What every trigger translation shares: run requests with Kestra's tags and run config,
instigator names, rendering with the flow's variables, conditions, and the batch-polling sensor."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from dagster import DefaultSensorStatus, RunRequest, RunsFilter, SensorDefinition, SkipReason, sensor

from kestra_dagster.compiler.naming import dagster_name
from kestra_dagster.model.common import parse_duration
from kestra_dagster.model.flow import Flow, label_map
from kestra_dagster.triggers.conditions import MULTIPLE, ConditionContext, all_true, condition_type
from kestra_dagster.triggers.models import Schedule

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow



TAG_TRIGGER = "kestra/trigger"
TAG_TRIGGER_ID = "kestra/trigger_id"
#: Sensors poll at most this often (the daemon's loop adds its own floor, see ``triggers.daemon``).
WEBHOOK_SENSOR_INTERVAL = 1
DEFAULT_NONE_GRACE = timedelta(minutes=5)
TERMINAL_STATES = ("SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED")


class TriggerCompileError(ValueError):
    pass


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
    from kestra_dagster.triggers.render import flow_variables

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


def polling_sensor(compiled: "CompiledFlow", trigger, *, description: str, what: str,
                   poll: Callable[[Any, Callable[[str], bool], Any], Any],
                   request: Callable[[str, list[dict]], RunRequest]) -> SensorDefinition:
    """The sensor of a trigger that polls a source in batches (S3 objects, local files).

    ``poll(cursor_text, run_exists, storage)`` does the trigger's own work from the cursor and
    returns a result with ``cursor`` (``dump()``), ``requests`` (``(run_key, items)``),
    ``actions_done`` and optionally ``problems``; ``request(run_key, items)`` turns one batch into
    a ``RunRequest``. ``run_exists`` tells whether a batch's run was already requested (the
    batch's ``run_key`` under this sensor), so a batch is never run twice.

    Dagster stores a sensor's cursor when the tick ends, after its runs are launched: a daemon
    killed in between would poll again from the older cursor, and a batch grown by a new item gets
    a new run key, so its old items would run twice. The new cursor (its pending batches among it)
    is therefore also written to the instance's key/value table before the runs are requested, and
    read back when Dagster's cursor is still the one it followed (a cursor set by hand wins).
    """
    from kestra_dagster.engine.storage import default_storage

    interval = max(1, int(parse_duration(trigger.interval).total_seconds()))
    name = instigator_name(compiled, trigger)

    @sensor(name=name, job=compiled.job, minimum_interval_seconds=interval, default_status=_status(trigger),
            description=description)
    def _poll(context):
        def run_exists(run_key: str) -> bool:
            return bool(context.instance.get_run_ids(
                filters=RunsFilter(tags={"dagster/run_key": run_key, "dagster/sensor_name": name}), limit=1))

        result = poll(_durable_cursor(context, name), run_exists, default_storage())
        cursor = result.cursor.dump()
        if result.requests or cursor != context.cursor:
            context.instance.run_storage.set_cursor_values(
                {POLL_CURSOR_PREFIX + name: json.dumps({"after": context.cursor, "cursor": cursor})})
        context.update_cursor(cursor)
        for problem in getattr(result, "problems", ()) or ():
            context.log.warning(problem)
        if result.actions_done and trigger.action != "NONE":
            context.log.info(f"{trigger.action} applied for {len(result.actions_done)} processed batch(es)")
        if not result.requests:
            return SkipReason(what)
        return [request(run_key, items) for run_key, items in result.requests]

    return _poll


#: Key/value entries ``kestra/poll-cursor/<sensor>``: the cursor a polling sensor's last tick made.
POLL_CURSOR_PREFIX = "kestra/poll-cursor/"


def _durable_cursor(context, name: str) -> str | None:
    """The cursor to poll from: the one the last tick wrote before requesting runs, when Dagster's
    stored cursor is still the one that tick started from (its tick never ended)."""
    key = POLL_CURSOR_PREFIX + name
    raw = context.instance.run_storage.get_cursor_values({key}).get(key)
    try:
        durable = json.loads(raw) if raw else None
    except ValueError:
        durable = None
    if isinstance(durable, dict) and durable.get("after") == context.cursor and durable.get("cursor"):
        return durable["cursor"]
    return context.cursor


def batch_prefix(flow: Flow, trigger) -> list[str]:
    """Storage folder of a trigger's batches: ``<namespace>/<flow>/triggers/<trigger id>``."""
    from kestra_dagster.engine.storage import namespace_parts

    return [*namespace_parts(flow.namespace), flow.id, "triggers", trigger.id]
