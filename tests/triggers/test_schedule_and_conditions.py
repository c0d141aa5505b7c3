"""Schedule triggers → Dagster schedules; calendar conditions; catch-up policies (no daemon needed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from kestra_dagster.compiler.definitions import build_definitions, load_catalog
from kestra_dagster.compiler.triggers import build_schedule, dagster_cron, TriggerCompileError
from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import load_flow_file
from kestra_dagster.triggers.conditions import ConditionContext, evaluate

FLOW = """
id: nightly
namespace: demo.sched
inputs:
  - id: day
    type: STRING
  - id: n
    type: INT
    defaults: 1
tasks:
  - id: hello
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.day }} {{ trigger.date }}"
triggers:
  - id: weekdays
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "30 9 * * 1-5"
    timezone: Europe/Paris
    inputs:
      day: "{{ trigger.date | date('yyyy-MM-dd') }}"
      n: "{{ 40 + 2 }}"
  - id: hourly
    type: io.kestra.core.models.triggers.types.Schedule
    cron: "@hourly"
    disabled: true
    inputs:
      day: x
  - id: seconds
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 */15 * * * *"
    withSeconds: true
    inputs:
      day: x
  - id: first_monday
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 8 * * *"
    timezone: UTC
    recoverMissedSchedules: LAST
    inputs:
      day: x
    conditions:
      - type: io.kestra.plugin.core.condition.DayWeekInMonth
        dayOfWeek: MONDAY
        dayInMonth: FIRST
"""


@pytest.fixture()
def defs(tmp_path: Path) -> dg.Definitions:
    (tmp_path / "nightly.yaml").write_text(FLOW)
    return build_definitions([tmp_path])


def _schedule(defs, trigger_id):
    return next(s for s in defs.schedules if s.name.endswith(f"__{trigger_id}"))


def _tick(schedule, when: datetime):
    return schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=when))


def test_schedules_carry_cron_timezone_and_status(defs):
    weekdays = _schedule(defs, "weekdays")
    assert weekdays.cron_schedule == "30 9 * * 1-5"
    assert weekdays.execution_timezone == "Europe/Paris"
    assert weekdays.job_name == "demo_sched__nightly"
    assert weekdays.default_status == dg.DefaultScheduleStatus.RUNNING
    hourly = _schedule(defs, "hourly")
    assert hourly.cron_schedule == "@hourly"
    assert hourly.default_status == dg.DefaultScheduleStatus.STOPPED
    # withSeconds with second 0 runs on Dagster's minute granularity
    assert _schedule(defs, "seconds").cron_schedule == "*/15 * * * *"
    # the whole code location validates (what `dagster definitions validate` checks)
    dg.Definitions.validate_loadable(defs)


def test_tick_renders_trigger_dates_and_inputs(defs):
    when = datetime(2026, 3, 2, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    result = _tick(_schedule(defs, "weekdays"), when)
    (request,) = result.run_requests
    trig = request.run_config["trigger"]
    assert trig["date"] == "2026-03-02T09:30:00+01:00"
    assert trig["next"] == "2026-03-03T09:30:00+01:00"
    assert trig["previous"] == "2026-02-27T09:30:00+01:00"  # Friday before
    assert request.run_config["inputs"] == {"day": "2026-03-02", "n": 42}
    assert request.tags["kestra/trigger"] == "Schedule"
    # the run config is valid for the job
    dg.validate_run_config(defs.resolve_job_def("demo_sched__nightly"), request.run_config)


def test_schedule_run_sees_trigger_date(defs):
    when = datetime(2026, 3, 2, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    (request,) = _tick(_schedule(defs, "weekdays"), when).run_requests
    job = defs.resolve_job_def("demo_sched__nightly")
    result = job.execute_in_process(run_config=request.run_config, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    from kestra_dagster.compiler.ops import END_NODE, OK

    execution = result.output_for_node(END_NODE, OK)
    assert execution.outputs["hello"]["value"] == "2026-03-02 2026-03-02T09:30:00+01:00"


def test_calendar_condition_and_recover_last(tmp_path, defs):
    schedule = _schedule(defs, "first_monday")
    first_monday = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)  # a first Monday, but long past
    assert "later one is due" in _tick(schedule, first_monday).skip_message  # LAST: a later tick was missed
    catalog = load_catalog([tmp_path])
    compiled = next(iter(catalog.flows.values()))
    trigger = next(t for t in compiled.flow.triggers if t.id == "first_monday")
    # now = just after the tick: the condition decides
    at = lambda when: build_schedule(compiled, trigger, now=lambda: when.timestamp() + 5)  # noqa: E731
    assert _tick(at(first_monday), first_monday).run_requests
    second_monday = first_monday + timedelta(days=7)
    assert "conditions" in _tick(at(second_monday), second_monday).skip_message


def test_recover_none_and_late_maximum_delay(tmp_path):
    (tmp_path / "f.yaml").write_text("""
id: f
namespace: demo.sched
tasks: [{id: t, type: io.kestra.plugin.core.log.Log, message: hi}]
triggers:
  - {id: none, type: io.kestra.plugin.core.trigger.Schedule, cron: "0 * * * *", recoverMissedSchedules: NONE}
  - {id: all, type: io.kestra.plugin.core.trigger.Schedule, cron: "0 * * * *"}
  - {id: late, type: io.kestra.plugin.core.trigger.Schedule, cron: "0 * * * *", lateMaximumDelay: PT1M}
""")
    compiled = next(iter(load_catalog([tmp_path]).flows.values()))
    tick = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
    by_id = {t.id: t for t in compiled.flow.triggers}

    def result(trigger_id, seconds_late):
        schedule = build_schedule(compiled, by_id[trigger_id], now=lambda: tick.timestamp() + seconds_late)
        return _tick(schedule, tick)

    assert result("none", 10).run_requests  # on time
    assert "recoverMissedSchedules: NONE" in result("none", 600).skip_message  # missed
    assert result("all", 7200).run_requests  # ALL: catch-up runs every missed tick
    assert result("late", 30).run_requests
    assert "lateMaximumDelay" in result("late", 120).skip_message


@pytest.mark.parametrize("cron,with_seconds,message", [
    ("*/10 * * * *", True, "6-field cron"),
    ("0 */5 * * * *", False, "set withSeconds"),
    ("every day", False, "invalid cron"),
])
def test_invalid_crons_are_load_errors(tmp_path, cron, with_seconds, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"""
id: bad
namespace: demo.sched
tasks: [{{id: t, type: io.kestra.plugin.core.log.Log, message: hi}}]
triggers:
  - {{id: s, type: io.kestra.plugin.core.trigger.Schedule, cron: "{cron}", withSeconds: {str(with_seconds).lower()}}}
""")
    with pytest.raises(FlowValidationError) as info:
        load_flow_file(path)
    assert message in str(info.value)


def test_with_seconds_other_than_zero_is_a_clear_error(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("""
id: s
namespace: demo.sched
tasks: [{id: t, type: io.kestra.plugin.core.log.Log, message: hi}]
triggers:
  - {id: s, type: io.kestra.plugin.core.trigger.Schedule, cron: "30 * * * * *", withSeconds: true}
""")
    trigger = load_flow_file(path).flow.triggers[0]
    with pytest.raises(TriggerCompileError, match="minute granularity"):
        dagster_cron(trigger)
    # the code location still loads, without that schedule
    assert build_definitions([tmp_path]).schedules == []


def test_calendar_conditions():
    def ok(cond, when):
        return evaluate(cond, ConditionContext(now=when))

    monday = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    assert ok({"type": "io.kestra.plugin.core.condition.DayWeek", "dayOfWeek": "MONDAY"}, monday)
    assert not ok({"type": "io.kestra.plugin.core.condition.Weekend"}, monday)
    assert ok({"type": "io.kestra.plugin.core.condition.Weekend"}, monday + timedelta(days=5))
    last = {"type": "io.kestra.plugin.core.condition.DayWeekInMonth", "dayOfWeek": "MONDAY", "dayInMonth": "LAST"}
    assert ok(last, datetime(2026, 3, 30, tzinfo=timezone.utc)) and not ok(last, monday)
    between = {"type": "io.kestra.core.models.conditions.types.TimeBetweenCondition", "after": "09:00:00",
               "before": "11:00:00"}
    assert ok(between, monday) and not ok(between, monday + timedelta(hours=2))
    window = {"type": "io.kestra.plugin.core.condition.DateTimeBetween", "after": "2026-03-01T00:00:00Z",
              "before": "2026-03-05T00:00:00Z"}
    assert ok(window, monday) and not ok(window, monday + timedelta(days=10))
    assert ok({"type": "io.kestra.plugin.core.condition.Not", "conditions": [window]}, monday + timedelta(days=10))


def test_schedule_on_dates_runs_each_passed_date_once(tmp_path):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    past, soon = now - timedelta(seconds=20), now + timedelta(hours=1)
    (tmp_path / "dates.yaml").write_text(f"""
id: dates
namespace: demo.sched
tasks: [{{id: t, type: io.kestra.plugin.core.log.Log, message: "{{{{ trigger.date }}}}"}}]
triggers:
  - id: launches
    type: io.kestra.plugin.core.trigger.ScheduleOnDates
    dates: ["{past.isoformat()}", "{soon.isoformat()}"]
""")
    sensor = build_definitions([tmp_path]).resolve_sensor_def("demo_sched__dates__launches")
    instance = dg.DagsterInstance.ephemeral()
    first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    assert [r.run_config["trigger"]["date"] for r in first.run_requests] == [past.isoformat()]
    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert again.run_requests == []  # not twice; the future date waits for its time
