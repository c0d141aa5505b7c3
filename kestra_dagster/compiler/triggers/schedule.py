"""``Schedule`` → a Dagster ``ScheduleDefinition`` (cron, timezone, missed-tick recovery)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable
from zoneinfo import ZoneInfo

from dagster import DefaultScheduleStatus, ScheduleDefinition, SkipReason

from kestra_dagster.model.common import parse_duration
from kestra_dagster.triggers.models import Schedule
from kestra_dagster.compiler.triggers.common import (
    DEFAULT_NONE_GRACE,
    TriggerCompileError,
    instigator_name,
    make_run_request,
    _render,
    _flow_vars,
    _conditions_hold,
    _iso,
)

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow


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
    from kestra_dagster.compat import is_valid_cron  # private, but the check Dagster itself runs

    text = " ".join(fields)
    if not is_valid_cron(text):
        raise TriggerCompileError(f"cron {cron!r} is not a cron expression Dagster can run")
    return text


def schedule_times(cron: str, tz: str, scheduled: datetime) -> tuple[datetime, datetime]:
    """(previous tick, next tick) around ``scheduled`` for Kestra's ``trigger.previous/next``."""
    from kestra_dagster.compat import cron_ticks, cron_ticks_before

    nxt = next(cron_ticks(cron, tz, scheduled.timestamp() + 1))
    prev = next(cron_ticks_before(cron, tz, scheduled.timestamp() - 1))
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
