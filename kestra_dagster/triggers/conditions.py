"""Kestra trigger ``conditions``, evaluated in plain Python.

Calendar conditions (DayWeek, DayWeekInMonth, Weekend, DateTimeBetween, TimeBetween,
PublicHoliday) look at ``date`` (default: the trigger date); execution conditions (ExecutionStatus, ExecutionFlow,
ExecutionNamespace, ExecutionLabels, ExecutionOutputs) look at the execution that ended (Flow
trigger); Expression, Not and Or work everywhere. ``MultipleCondition`` needs memory across
executions and is handled by the Flow trigger's sensor (``compiler.triggers``), like
``preconditions``.
"""

from __future__ import annotations

import fnmatch
import functools
import locale
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any, Callable

from kestra_dagster.model.aliases import canonical_type

_P = "io.kestra.plugin.core.condition."
CALENDAR = {f"{_P}{n}" for n in ("DayWeek", "DayWeekInMonth", "Weekend", "DateTimeBetween", "TimeBetween",
                                  "PublicHoliday")}
EXECUTION = {f"{_P}{n}" for n in ("ExecutionStatus", "ExecutionFlow", "ExecutionNamespace", "ExecutionLabels",
                                  "ExecutionOutputs")}
GENERIC = {f"{_P}{n}" for n in ("Expression", "Not", "Or", "FlowCondition", "FlowNamespaceCondition")}
MULTIPLE = f"{_P}MultipleCondition"
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


class ConditionError(ValueError):
    """A condition that cannot be evaluated (unknown type, bad property)."""


@dataclass
class ConditionContext:
    """What conditions can look at."""

    #: The trigger date (schedule tick, delivery time, end of the upstream execution).
    now: datetime
    #: Variables for rendering (``trigger``, ``flow``…).
    variables: dict[str, Any] = field(default_factory=dict)
    #: The execution that ended (Flow trigger): namespace, flowId, state, labels, outputs.
    execution: dict[str, Any] | None = None
    #: Renders an expression with ``variables`` (injected so this module stays import-light).
    render: Callable[[Any, dict], Any] | None = None


def condition_type(cond: dict) -> str:
    return canonical_type(str(cond.get("type", "")))


def is_known_condition(type_name: str) -> bool:
    """True for a condition type we can evaluate (any of its Kestra names)."""
    kind = condition_type({"type": type_name})
    return kind == MULTIPLE or (kind.startswith(_P) and kind.rsplit(".", 1)[-1] in _EVALUATORS)


def known_condition_types() -> dict[str, str]:
    """Every condition type we evaluate, by today's name (a ``suggest_name`` table)."""
    names = [f"{_P}{n}" for n in _EVALUATORS] + [MULTIPLE]
    return {n: n for n in names}


def check_conditions(conditions: list[dict], allowed: set[str], where: str) -> list[str]:
    """Load-time problems with ``conditions`` for a trigger that supports ``allowed`` kinds."""
    problems = []
    for i, cond in enumerate(conditions):
        kind = condition_type(cond)
        if not is_known_condition(str(cond.get("type", ""))):
            continue  # the loader reports it as an unsupported condition type
        if kind in (f"{_P}Not", f"{_P}Or"):
            problems += check_conditions(list(cond.get("conditions") or []), allowed, f"{where}[{i}].conditions")
        elif kind == MULTIPLE and MULTIPLE in allowed:
            subs = cond.get("conditions") or {}
            problems += check_conditions(list(subs.values()) if isinstance(subs, dict) else [], allowed - {MULTIPLE},
                                         f"{where}[{i}].conditions")
        elif kind not in allowed:
            problems.append(f"{where}[{i}]: condition type {cond.get('type')!r} is not supported on this trigger "
                            f"(supported: {', '.join(sorted(t.rsplit('.', 1)[-1] for t in allowed))})")
        elif kind == f"{_P}PublicHoliday":
            problems += [f"{where}[{i}]: {p}" for p in _public_holiday_problems(cond)]
    return problems


def all_true(conditions: list[dict], ctx: ConditionContext) -> bool:
    return all(evaluate(c, ctx) for c in conditions if condition_type(c) != MULTIPLE)


def evaluate(cond: dict, ctx: ConditionContext) -> bool:
    kind = condition_type(cond).rsplit(".", 1)[-1]
    fn = _EVALUATORS.get(kind)
    if fn is None:
        raise ConditionError(f"condition type {cond.get('type')!r} is not supported here")
    return bool(fn(cond, ctx))


# ----------------------------------------------------------------------------- helpers


def _render(value: Any, ctx: ConditionContext) -> Any:
    if ctx.render is None or not isinstance(value, str) or "{{" not in value:
        return value
    return ctx.render(value, ctx.variables)


def parse_datetime(value: Any, default_tz=timezone.utc) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=default_tz)
    text = str(value).strip()
    if "[" in text:  # Java's ZonedDateTime.toString(): 2024-01-01T10:00+01:00[Europe/Paris]
        text = text.split("[", 1)[0]
    text = text.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConditionError(f"{value!r} is not an ISO-8601 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=default_tz)


def _date_of(cond: dict, ctx: ConditionContext) -> datetime:
    raw = cond.get("date")
    if raw is None:
        return ctx.now
    return parse_datetime(_render(raw, ctx), ctx.now.tzinfo or timezone.utc)


def parse_time(value: Any) -> time:
    text = str(value).strip().replace("Z", "+00:00")
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ConditionError(f"{value!r} is not an ISO-8601 time such as 09:00:00") from None


def _day(value: Any) -> int:
    name = str(value).upper()
    if name not in DAYS:
        raise ConditionError(f"dayOfWeek must be one of {', '.join(DAYS)}, got {value!r}")
    return DAYS.index(name)


# ----------------------------------------------------------------------------- evaluators


def _day_week(cond, ctx):
    return _date_of(cond, ctx).weekday() == _day(cond.get("dayOfWeek"))


def _day_week_in_month(cond, ctx):
    when = _date_of(cond, ctx)
    if when.weekday() != _day(cond.get("dayOfWeek")):
        return False
    which = str(cond.get("dayInMonth", "")).upper()
    nth = (when.day - 1) // 7  # 0 = first occurrence of that weekday in the month
    if which == "LAST":
        return (when.date() + timedelta(days=7)).month != when.month
    order = {"FIRST": 0, "SECOND": 1, "THIRD": 2, "FOURTH": 3}
    if which not in order:
        raise ConditionError(f"dayInMonth must be FIRST, SECOND, THIRD, FOURTH or LAST, got {which!r}")
    return nth == order[which]


def _weekend(cond, ctx):
    return _date_of(cond, ctx).weekday() >= 5


def _date_time_between(cond, ctx):
    when = _date_of(cond, ctx)
    after, before = cond.get("after"), cond.get("before")
    if after is not None and when < parse_datetime(_render(after, ctx)):
        return False
    if before is not None and when > parse_datetime(_render(before, ctx)):
        return False
    return True


def _time_between(cond, ctx):
    when = _date_of(cond, ctx)

    def clock(raw) -> tuple[time, time]:
        """(bound, current time of day), compared in the bound's offset when it has one."""
        bound = parse_time(_render(raw, ctx))
        current = when.astimezone(bound.tzinfo) if bound.tzinfo else when
        return bound.replace(tzinfo=None), current.time().replace(tzinfo=None)

    if cond.get("after") is not None:
        bound, current = clock(cond["after"])
        if current < bound:
            return False
    if cond.get("before") is not None:
        bound, current = clock(cond["before"])
        if current > bound:
            return False
    return True


@functools.lru_cache(maxsize=64)
def holiday_calendar(country: str, sub_division: str | None = None):
    """The ``holidays`` calendar of a country (ISO 3166-1 alpha-2) and optional subdivision (ISO 3166-2,
    with or without the country prefix: ``BE`` or ``DE-BE``); cached, it fills in years as asked."""
    import holidays

    code = country.strip().upper()
    sub = sub_division.strip().upper() if sub_division else None
    if sub and sub.startswith(f"{code}-"):
        sub = sub[len(code) + 1:]
    supported = holidays.list_supported_countries()
    if code not in supported:
        raise ConditionError(f"PublicHoliday: unknown country {country!r}; use an ISO 3166-1 alpha-2 code "
                             "such as FR, DE or US")
    if sub and sub not in [s.upper() for s in supported[code]]:
        raise ConditionError(f"PublicHoliday: country {code} has no subdivision {sub_division!r}; known: "
                             f"{', '.join(s for s in supported[code] if s.isupper())}")
    return holidays.country_holidays(code, subdiv=sub)


def _default_country() -> str:
    """Kestra falls back to the JVM's default locale; the Python counterpart is the process locale."""
    name = locale.getlocale()[0] or ""
    if "_" in name:
        return name.split("_", 1)[1][:2]
    raise ConditionError("PublicHoliday needs `country` (no country in this server's locale "
                         f"{name or 'C/POSIX'!r}); set e.g. country: FR")


def _public_holiday_problems(cond: dict) -> list[str]:
    """Load-time check of a literal country/subDivision, so a typo fails the flow, not every tick."""
    country, sub = cond.get("country"), cond.get("subDivision")
    if country is None or "{{" in str(country) or (sub is not None and "{{" in str(sub)):
        return []
    try:
        holiday_calendar(str(country), str(sub) if sub is not None else None)
    except ConditionError as exc:
        return [str(exc)]
    return []


def _public_holiday(cond, ctx):
    when = _date_of(cond, ctx)  # a date-time keeps its own offset: the local date is the one that counts
    country = _render(cond.get("country"), ctx) or _default_country()
    sub = _render(cond.get("subDivision"), ctx)
    return when.date() in holiday_calendar(str(country), str(sub) if sub else None)


def _expression(cond, ctx):
    if ctx.render is None:
        raise ConditionError("Expression conditions need the expression engine")
    from kestra_dagster.expressions import is_truthy

    return is_truthy(ctx.render(cond.get("expression", ""), ctx.variables))


def _not(cond, ctx):
    return not any(evaluate(c, ctx) for c in cond.get("conditions") or [])


def _or(cond, ctx):
    return any(evaluate(c, ctx) for c in cond.get("conditions") or [])


def _execution(ctx) -> dict:
    if ctx.execution is None:
        raise ConditionError("execution conditions only apply to Flow triggers")
    return ctx.execution


def _execution_status(cond, ctx):
    state = _execution(ctx).get("state")
    if cond.get("in") and state not in cond["in"]:
        return False
    if cond.get("notIn") and state in cond["notIn"]:
        return False
    return True


def _execution_flow(cond, ctx):
    ex = _execution(ctx)
    return ex.get("namespace") == cond.get("namespace") and ex.get("flowId") == cond.get("flowId")


def _execution_namespace(cond, ctx):
    ns = _execution(ctx).get("namespace") or ""
    target = str(cond.get("namespace", ""))
    comparison = str(cond.get("comparison") or ("PREFIX" if cond.get("prefix") else "EQUALS")).upper()
    if comparison == "PREFIX":
        return ns.startswith(target)
    if comparison == "SUFFIX":
        return ns.endswith(target)
    return ns == target


def _execution_labels(cond, ctx):
    from kestra_dagster.model.flow import label_map

    labels = _execution(ctx).get("labels") or {}
    return all(str(labels.get(k)) == str(v) for k, v in label_map(cond.get("labels")).items())


def _execution_outputs(cond, ctx):
    return _expression(cond, ctx)


def _flow_condition(cond, ctx):
    flow = ctx.variables.get("flow") or {}
    return flow.get("namespace") == cond.get("namespace") and flow.get("id") == cond.get("flowId")


def _flow_namespace_condition(cond, ctx):
    ns = (ctx.variables.get("flow") or {}).get("namespace", "")
    target = str(cond.get("namespace", ""))
    return ns.startswith(target) if cond.get("prefix") else ns == target


_EVALUATORS: dict[str, Callable[[dict, ConditionContext], bool]] = {
    "DayWeek": _day_week,
    "DayWeekInMonth": _day_week_in_month,
    "Weekend": _weekend,
    "DateTimeBetween": _date_time_between,
    "TimeBetween": _time_between,
    "PublicHoliday": _public_holiday,
    "Expression": _expression,
    "Not": _not,
    "Or": _or,
    "ExecutionStatus": _execution_status,
    "ExecutionFlow": _execution_flow,
    "ExecutionNamespace": _execution_namespace,
    "ExecutionLabels": _execution_labels,
    "ExecutionOutputs": _execution_outputs,
    "FlowCondition": _flow_condition,
    "FlowNamespaceCondition": _flow_namespace_condition,
}


def glob_match(name: str, patterns: list[str]) -> bool:
    """Git-style ref filters: shell globs (``v*``, ``release/**``) on a branch or tag name."""
    return any(fnmatch.fnmatchcase(name, p.replace("**", "*")) for p in patterns)

