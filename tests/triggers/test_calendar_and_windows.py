"""Calendar conditions Kestra documents for Schedule triggers (PublicHoliday, alone and in the
"work days" Not form) evaluated as Dagster schedule ticks, and the Flow trigger's
``preconditions.timeWindow`` kinds (DURATION_WINDOW, SLIDING_WINDOW, DAILY_TIME_WINDOW,
DAILY_TIME_DEADLINE) evaluated on runs as its run-status sensors see them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from kestra_dagster.compiler.definitions import build_definitions, load_catalog
from kestra_dagster.compiler.triggers import flow_trigger_evaluator, window_bounds
from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import load_flow_file
from kestra_dagster.triggers.models import TimeWindow
from .test_flow_trigger_conditions import UPSTREAM, FakeRun, fired

PARIS = ZoneInfo("Europe/Paris")
HOLIDAYS = """
id: holidays
namespace: demo.cal
tasks: [{id: t, type: io.kestra.plugin.core.log.Log, message: "{{ trigger.date }}"}]
triggers:
  - id: on-holidays
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 11 * * *"
    timezone: Europe/Paris
    conditions:
      - type: io.kestra.plugin.core.condition.PublicHoliday
        country: FR
  - id: work-days
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 11 * * *"
    timezone: Europe/Paris
    conditions:
      - type: io.kestra.plugin.core.condition.Not
        conditions:
          - {type: io.kestra.plugin.core.condition.PublicHoliday, country: FR}
          - {type: io.kestra.plugin.core.condition.Weekend}
  - id: berlin
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 11 * * *"
    timezone: Europe/Berlin
    conditions:
      - type: io.kestra.core.models.conditions.types.PublicHolidayCondition
        country: "{{ 'D' ~ 'E' }}"
        subDivision: DE-BE
"""


def _tick(defs, trigger_id: str, when: datetime):
    schedule = next(s for s in defs.schedules if s.name.endswith(f"__{trigger_id.replace('-', '_')}"))
    return schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=when))


def test_public_holiday_conditions_on_schedule_ticks(tmp_path: Path):
    (tmp_path / "holidays.yaml").write_text(HOLIDAYS)
    defs = build_definitions([tmp_path])
    bastille = datetime(2026, 7, 14, 11, 0, tzinfo=PARIS)  # Tuesday, French national day
    wednesday, saturday = bastille + timedelta(days=1), bastille + timedelta(days=4)
    assert _tick(defs, "on-holidays", bastille).run_requests
    assert "conditions" in _tick(defs, "on-holidays", wednesday).skip_message
    assert _tick(defs, "work-days", wednesday).run_requests
    assert not _tick(defs, "work-days", bastille).run_requests
    assert not _tick(defs, "work-days", saturday).run_requests
    # International Women's Day is a holiday in Berlin only (Kestra's own test date)
    womens_day = datetime(2023, 3, 8, 11, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert _tick(defs, "berlin", womens_day).run_requests
    assert not _tick(defs, "berlin", womens_day + timedelta(days=1)).run_requests


def test_public_holiday_date_property_and_local_date():
    from kestra_dagster.triggers.conditions import ConditionContext, evaluate

    holiday = {"type": "io.kestra.plugin.core.condition.PublicHoliday", "country": "FR"}
    ctx = ConditionContext(now=datetime(2026, 1, 5, tzinfo=timezone.utc))
    assert evaluate({**holiday, "date": "2023-07-14"}, ctx)
    assert not evaluate({**holiday, "date": "2023-01-02"}, ctx)
    # 23:30 UTC on 13 July is already the 14th in Paris: the date's own offset decides the day
    assert evaluate(holiday, ConditionContext(now=datetime(2026, 7, 13, 23, 30, tzinfo=timezone.utc).astimezone(PARIS)))
    assert not evaluate(holiday, ConditionContext(now=datetime(2026, 7, 13, 23, 30, tzinfo=timezone.utc)))


@pytest.mark.parametrize("condition,message", [
    ("{type: io.kestra.plugin.core.condition.PublicHoliday, country: XX}", "unknown country 'XX'"),
    ("{type: io.kestra.plugin.core.condition.PublicHoliday, country: DE, subDivision: ZZ}",
     "country DE has no subdivision 'ZZ'; known: BB, BE"),
])
def test_public_holiday_bad_country_is_a_load_error(tmp_path: Path, condition: str, message: str):
    path = tmp_path / "bad.yaml"
    path.write_text(f"""
id: bad
namespace: demo.cal
tasks: [{{id: t, type: io.kestra.plugin.core.log.Log, message: hi}}]
triggers:
  - id: s
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 11 * * *"
    conditions: [{condition}]
""")
    with pytest.raises(FlowValidationError, match=message):
        load_flow_file(path)


# ----------------------------------------------------------------------------- Flow trigger time windows

LISTENER = """
id: listener
namespace: company.team
tasks: [{id: t, type: io.kestra.plugin.core.log.Log, message: "{{ trigger.flowId }}"}]
triggers:
"""
WINDOWS = {
    "daily-window": "{type: DAILY_TIME_WINDOW, startTime: '09:00:00', endTime: '12:00:00', timezone: Europe/Paris}",
    "deadline": "{type: DAILY_TIME_DEADLINE, deadline: '10:00:00', timezone: UTC}",
    "hourly": "{type: DURATION_WINDOW, window: PT1H, timezone: UTC}",
    "hourly-advanced": "{type: DURATION_WINDOW, window: PT1H, windowAdvance: PT30M, timezone: UTC}",
    "sliding": "{type: SLIDING_WINDOW, window: PT1H}",
}


@pytest.fixture()
def windowed(tmp_path: Path):
    """``check(trigger_id, [(flow, HH:MM UTC on 2026-03-02), ...])`` → fired or not after each run."""
    for name in ("extract", "load"):
        (tmp_path / f"{name}.yaml").write_text(UPSTREAM.format(id=name))
    triggers = "".join(f"""  - id: {tid}
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      id: both
      flows:
        - {{namespace: company.team, flowId: extract}}
        - {{namespace: company.team, flowId: load}}
      timeWindow: {window}
""" for tid, window in WINDOWS.items())
    (tmp_path / "listener.yaml").write_text(LISTENER + triggers)
    compiled = load_catalog([tmp_path]).flows["company.team.listener"]
    instances = []

    def check(trigger_id: str, runs: list[tuple[str, str]]) -> list[bool]:
        instance = dg.DagsterInstance.ephemeral()
        instances.append(instance)
        trigger = next(t for t in compiled.flow.triggers if t.id == trigger_id)
        results = []
        for flow_id, at in runs:
            hour, minute = map(int, at.split(":"))
            when = datetime(2026, 3, 2, hour, minute, tzinfo=timezone.utc)
            evaluate = flow_trigger_evaluator(compiled, trigger, ["SUCCESS"], clock=lambda when=when: when)
            results.append(fired(evaluate(instance, FakeRun(flow_id, "SUCCESS"))))
        return results

    yield check
    for instance in instances:
        instance.dispose()


def test_daily_time_window_counts_only_executions_inside_it(windowed):
    # 09:00-12:00 Paris = 08:00-11:00 UTC in March (UTC+1)
    assert windowed("daily-window", [("extract", "08:30"), ("load", "10:45")]) == [False, True]
    assert windowed("daily-window", [("extract", "07:30"), ("load", "09:00")]) == [False, False]  # extract too early
    assert windowed("daily-window", [("extract", "09:00"), ("load", "11:30")]) == [False, False]  # load too late


def test_daily_time_deadline(windowed):
    assert windowed("deadline", [("extract", "00:10"), ("load", "09:59")]) == [False, True]
    assert windowed("deadline", [("extract", "09:00"), ("load", "10:01")]) == [False, False]


def test_duration_window_is_aligned_on_midnight_plus_advance(windowed):
    assert windowed("hourly", [("extract", "10:50"), ("load", "11:05")]) == [False, False]  # 10-11, then 11-12
    assert windowed("hourly", [("extract", "10:05"), ("load", "10:55")]) == [False, True]
    assert windowed("hourly-advanced", [("extract", "10:50"), ("load", "11:05")]) == [False, True]  # 10:30-11:30


def test_sliding_window_opens_with_the_first_execution(windowed):
    assert windowed("sliding", [("extract", "10:50"), ("load", "11:40")]) == [False, True]
    # the window opened at 10:00 has closed by 11:10: load opens a new one, extract must come again
    assert windowed("sliding", [("extract", "10:00"), ("load", "11:10"), ("extract", "11:20")]) == [False, False, True]


def test_window_bounds_follow_the_zone_and_advance():
    at = datetime(2026, 3, 2, 1, 15, tzinfo=timezone.utc)
    day = TimeWindow(windowAdvance="PT3H", timezone="UTC")
    assert window_bounds(day, at) == (datetime(2026, 3, 1, 3, tzinfo=timezone.utc), datetime(2026, 3, 2, 3, tzinfo=timezone.utc))
    ten = TimeWindow(window="PT10M", timezone="UTC")
    assert window_bounds(ten, at)[0] == datetime(2026, 3, 2, 1, 10, tzinfo=timezone.utc)
    daily = TimeWindow(type="DAILY_TIME_WINDOW", startTime="09:00:00", endTime="17:00:00", timezone="Europe/Paris")
    start, end = window_bounds(daily, datetime(2026, 7, 1, 12, tzinfo=timezone.utc))
    assert (start.astimezone(timezone.utc).hour, end.astimezone(timezone.utc).hour) == (7, 15)  # CEST


@pytest.mark.parametrize("window,message", [
    ("{type: DAILY_TIME_WINDOW, startTime: '09:00:00'}", "needs endTime"),
    ("{type: DAILY_TIME_DEADLINE, deadline: '10:00:00', window: PT1H}", "cannot have window"),
    ("{type: SLIDING_WINDOW, window: PT1H, windowAdvance: PT5M}", "cannot have windowAdvance"),
    ("{type: DAILY_TIME_DEADLINE, deadline: 'ten'}", "not an ISO-8601 time"),
])
def test_time_window_properties_are_checked_at_load(tmp_path: Path, window: str, message: str):
    path = tmp_path / "bad.yaml"
    path.write_text(LISTENER + f"""  - id: w
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      flows: [{{namespace: company.team, flowId: extract}}]
      timeWindow: {window}
""")
    with pytest.raises(FlowValidationError, match=message):
        load_flow_file(path)


def test_precondition_on_a_whole_namespace(tmp_path: Path):
    """A precondition flow without flowId is met by any flow of its namespace, and the trigger's
    sensors then watch every job (Kestra lets a dependency name only the namespace)."""
    for name in ("extract", "load"):
        (tmp_path / f"{name}.yaml").write_text(UPSTREAM.format(id=name))
    (tmp_path / "listener.yaml").write_text(LISTENER + """  - id: team-and-load
    type: io.kestra.plugin.core.trigger.Flow
    preconditions:
      flows:
        - {namespace: company.team}
        - {namespace: company.team, flowId: load, states: [FAILED]}
""")
    compiled = load_catalog([tmp_path]).flows["company.team.listener"]
    (trigger,) = compiled.flow.triggers
    instance = dg.DagsterInstance.ephemeral()
    evaluate = flow_trigger_evaluator(compiled, trigger, ["SUCCESS", "FAILED"])
    try:
        assert not fired(evaluate(instance, FakeRun("load", "FAILED", dg.DagsterRunStatus.FAILURE)))  # team: SUCCESS only
        assert fired(evaluate(instance, FakeRun("extract", "SUCCESS")))
    finally:
        instance.dispose()
    # the sensors exist (no "company.team.None is not loaded"): they watch every job
    defs = build_definitions([tmp_path])
    assert isinstance(defs.resolve_sensor_def("company_team__listener__team_and_load__on_success"),
                      dg.RunStatusSensorDefinition)
