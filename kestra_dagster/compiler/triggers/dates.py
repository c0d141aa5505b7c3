"""``ScheduleOnDates`` → a sensor that requests one run per listed date once it has passed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dagster import SensorDefinition, SkipReason, sensor

from kestra_dagster.triggers.models import ScheduleOnDates
from kestra_dagster.compiler.triggers.common import (
    instigator_name,
    make_run_request,
    _render,
    _flow_vars,
    _status,
)

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow


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
