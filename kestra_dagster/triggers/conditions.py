"""Kestra trigger ``conditions``, evaluated in plain Python.

Each condition type is a model registered like tasks: a family lists its classes in
``CONDITIONS`` (ours: ``kestra_dagster.triggers``), each sets ``kestra_type``, the
``kestra_scope`` it can be evaluated in (``calendar``: a date; ``execution``: an execution that
ended, Flow trigger only; ``generic``: anywhere; ``multiple``: needs memory across executions)
and ``holds(ctx)``. A trigger accepts the scopes it can evaluate and refuses the others at load
time, naming the condition.

Calendar conditions (DayWeek, DayWeekInMonth, Weekend, DateTimeBetween, TimeBetween,
PublicHoliday) look at ``date`` (default: the trigger date); execution conditions (ExecutionStatus, ExecutionFlow,
ExecutionNamespace, ExecutionLabels, ExecutionOutputs, HasRetryAttempt) look at the execution that
ended (Flow trigger); Expression, Not and Or work everywhere. ``MultipleCondition`` needs memory across
executions and is handled by the Flow trigger's sensor (``compiler.triggers``), like
``preconditions``.
"""

from __future__ import annotations

import fnmatch
import functools
import locale
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any, Callable, ClassVar

from pydantic import ConfigDict

from kestra_dagster.model.common import KestraModel
from kestra_dagster.type_aliases import canonical_type

_P = "io.kestra.plugin.core.condition."
CALENDAR = {f"{_P}{n}" for n in ("DayWeek", "DayWeekInMonth", "Weekend", "DateTimeBetween", "TimeBetween",
                                  "PublicHoliday")}
EXECUTION = {f"{_P}{n}" for n in ("ExecutionStatus", "ExecutionFlow", "ExecutionNamespace", "ExecutionLabels",
                                  "ExecutionOutputs", "HasRetryAttempt")}
GENERIC = {f"{_P}{n}" for n in ("Expression", "Not", "Or", "FlowCondition", "FlowNamespaceCondition")}
MULTIPLE = f"{_P}MultipleCondition"
#: Where a condition can be evaluated (``Condition.kestra_scope``).
CALENDAR_SCOPE, EXECUTION_SCOPE, GENERIC_SCOPE, MULTIPLE_SCOPE = "calendar", "execution", "generic", "multiple"
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


def condition_class(cond: dict) -> type["Condition"] | None:
    """The registered model of a condition's ``type`` (aliases and old Kestra names resolve too)."""
    from kestra_dagster.registry import get_registry

    entry = get_registry().resolve(condition_type(cond))
    return entry.cls if entry is not None and entry.kind == "condition" else None


def _scopes_of(allowed: set[str]) -> set[str]:
    """Scopes from an ``allowed`` set that may hold scopes or (older callers) condition type names."""
    scopes = {a for a in allowed if a in (CALENDAR_SCOPE, EXECUTION_SCOPE, GENERIC_SCOPE, MULTIPLE_SCOPE)}
    for name in allowed - scopes:
        scopes |= {scope for scope, names in _BUILTIN_SCOPES.items() if name in names}
    return scopes


def is_known_condition(type_name: str) -> bool:
    """True for a condition type we can evaluate (any of its Kestra names)."""
    return condition_class({"type": type_name}) is not None


def known_condition_types() -> dict[str, str]:
    """Every condition type we evaluate, by today's name (a ``suggest_name`` table)."""
    from kestra_dagster.registry import get_registry

    return {e.type: e.type for e in get_registry().of_kind("condition")}


def check_conditions(conditions: list[dict], allowed: set[str], where: str) -> list[str]:
    """Load-time problems with ``conditions`` for a trigger that can evaluate the ``allowed`` scopes."""
    from kestra_dagster.registry import get_registry

    scopes = _scopes_of(allowed)
    problems = []
    for i, cond in enumerate(conditions):
        kind = condition_type(cond)
        cls = condition_class(cond)
        if cls is None:
            continue  # the loader reports it as an unsupported condition type
        if kind in (f"{_P}Not", f"{_P}Or"):
            problems += check_conditions(list(cond.get("conditions") or []), scopes, f"{where}[{i}].conditions")
        elif kind == MULTIPLE and MULTIPLE_SCOPE in scopes:
            subs = cond.get("conditions") or {}
            problems += check_conditions(list(subs.values()) if isinstance(subs, dict) else [], scopes - {MULTIPLE_SCOPE},
                                         f"{where}[{i}].conditions")
        elif cls is None or cls.kestra_scope not in scopes:
            supported = sorted(e.type.rsplit(".", 1)[-1] for e in get_registry().of_kind("condition")
                               if e.cls.kestra_scope in scopes)
            problems.append(f"{where}[{i}]: condition type {cond.get('type')!r} is not supported on this trigger "
                            f"(supported: {', '.join(supported)})")
        else:
            problems += [f"{where}[{i}]: {p}" for p in cls.problems(cond)]
    return problems


def all_true(conditions: list[dict], ctx: ConditionContext) -> bool:
    return all(evaluate(c, ctx) for c in conditions if condition_type(c) != MULTIPLE)


def evaluate(cond: dict, ctx: ConditionContext) -> bool:
    cls = condition_class(cond)
    if cls is None or cls.kestra_scope == MULTIPLE_SCOPE:
        raise ConditionError(f"condition type {cond.get('type')!r} is not supported here")
    return bool(cls.model_validate(cond).holds(ctx))


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


def _has_retry_attempt(cond, ctx):
    """A task run of the ended execution took several attempts, one of them in ``in`` / not in ``notIn``."""
    for run in _execution(ctx).get("taskRunList") or []:
        attempts = run.get("attempts") or []
        if len(attempts) < 2:
            continue
        for attempt in attempts:
            state = attempt.get("state")
            if cond.get("in") and state not in cond["in"]:
                continue
            if cond.get("notIn") and state in cond["notIn"]:
                continue
            return True
    return False


def _state_list_problems(cond: dict) -> list[str]:
    """``in``/``notIn`` are lists of Kestra states: a typo would silently never match."""
    from kestra_dagster.engine.states import State

    known = [s.value for s in State]
    problems = []
    for prop in ("in", "notIn"):
        value = cond.get(prop)
        if value is None:
            continue
        if not isinstance(value, list):
            problems.append(f"{prop} must be a list of states, e.g. [FAILED, KILLED]")
            continue
        for state in value:
            if state not in known:
                problems.append(f"{prop}: unknown state {state!r}; expected one of {', '.join(known)}")
    return problems


def _flow_condition(cond, ctx):
    flow = ctx.variables.get("flow") or {}
    return flow.get("namespace") == cond.get("namespace") and flow.get("id") == cond.get("flowId")


def _flow_namespace_condition(cond, ctx):
    ns = (ctx.variables.get("flow") or {}).get("namespace", "")
    target = str(cond.get("namespace", ""))
    return ns.startswith(target) if cond.get("prefix") else ns == target


# ----------------------------------------------------------------------------- condition types


class Condition(KestraModel):
    """A trigger condition. Properties Kestra has and we do not read are kept, not refused."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)

    kestra_type: ClassVar[str] = ""
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    kestra_scope: ClassVar[str] = GENERIC_SCOPE

    type: str

    def as_dict(self) -> dict[str, Any]:
        """The condition as written (what the evaluators read)."""
        return {**self.model_dump(by_alias=True, exclude_unset=True), **(self.model_extra or {})}

    def holds(self, ctx: ConditionContext) -> bool:
        raise NotImplementedError

    @classmethod
    def problems(cls, cond: dict) -> list[str]:
        """Load-time problems with literal properties (a typo fails the flow, not every tick)."""
        return []


def _condition(name: str, scope: str, evaluator: Callable[[dict, ConditionContext], bool], doc: str,
               fields: dict[str, Any], problems: Callable[[dict], list[str]] | None = None) -> type[Condition]:
    """One built-in condition type: its typed properties (all optional, possibly ``{{ }}``) and evaluator."""
    namespace: dict[str, Any] = {
        "__doc__": doc, "__module__": __name__, "kestra_type": f"{_P}{name}", "kestra_scope": scope,
        "__annotations__": {k: "Any" for k in fields},
        "holds": lambda self, ctx: bool(evaluator(self.as_dict(), ctx)),
        **fields,
    }
    if problems is not None:
        namespace["problems"] = classmethod(lambda cls, cond: problems(cond))
    return type(name, (Condition,), namespace)


_C, _E, _G = CALENDAR_SCOPE, EXECUTION_SCOPE, GENERIC_SCOPE
CONDITIONS: list[type[Condition]] = [
    _condition("DayWeek", _C, _day_week, "The date falls on ``dayOfWeek``.", {"dayOfWeek": None, "date": None}),
    _condition("DayWeekInMonth", _C, _day_week_in_month, "The date is the FIRST…LAST ``dayOfWeek`` of its month.",
               {"dayOfWeek": None, "dayInMonth": None, "date": None}),
    _condition("Weekend", _C, _weekend, "The date is a Saturday or Sunday.", {"date": None}),
    _condition("DateTimeBetween", _C, _date_time_between, "The date-time is between ``after`` and ``before``.",
               {"after": None, "before": None, "date": None}),
    _condition("TimeBetween", _C, _time_between, "The time of day is between ``after`` and ``before``.",
               {"after": None, "before": None, "date": None}),
    _condition("PublicHoliday", _C, _public_holiday, "The date is a public holiday of ``country``/``subDivision``.",
               {"country": None, "subDivision": None, "date": None}, problems=_public_holiday_problems),
    _condition("Expression", _G, _expression, "``expression`` renders truthy.", {"expression": None}),
    _condition("Not", _G, _not, "None of ``conditions`` holds.", {"conditions": None}),
    _condition("Or", _G, _or, "One of ``conditions`` holds.", {"conditions": None}),
    _condition("FlowCondition", _G, _flow_condition, "The flow is ``namespace``/``flowId``.",
               {"namespace": None, "flowId": None}),
    _condition("FlowNamespaceCondition", _G, _flow_namespace_condition, "The flow's namespace is (or starts with) ``namespace``.",
               {"namespace": None, "prefix": None}),
    _condition("ExecutionStatus", _E, _execution_status, "The ended execution's state is ``in`` / not ``notIn``.",
               {"in": None, "notIn": None}),
    _condition("HasRetryAttempt", _E, _has_retry_attempt,
               "A task run of the ended execution was retried, with an attempt ``in`` / not ``notIn`` these states.",
               {"in": None, "notIn": None}, problems=_state_list_problems),
    _condition("ExecutionFlow", _E, _execution_flow, "The ended execution is of flow ``namespace``/``flowId``.",
               {"namespace": None, "flowId": None}),
    _condition("ExecutionNamespace", _E, _execution_namespace, "The ended execution's namespace matches.",
               {"namespace": None, "comparison": None, "prefix": None}),
    _condition("ExecutionLabels", _E, _execution_labels, "The ended execution has ``labels``.", {"labels": None}),
    _condition("ExecutionOutputs", _E, _execution_outputs, "``expression`` over the ended execution's outputs is truthy.",
               {"expression": None}),
    _condition("MultipleCondition", MULTIPLE_SCOPE, lambda cond, ctx: False,
               "Every one of ``conditions`` held within ``window`` (the Flow trigger's sensor keeps the memory).",
               {"id": None, "conditions": None, "window": None, "windowAdvance": None, "resetOnSuccess": None}),
]
_BUILTIN_SCOPES = {scope: {c.kestra_type for c in CONDITIONS if c.kestra_scope == scope}
                   for scope in (CALENDAR_SCOPE, EXECUTION_SCOPE, GENERIC_SCOPE, MULTIPLE_SCOPE)}


def glob_match(name: str, patterns: list[str]) -> bool:
    """Git-style ref filters: shell globs (``v*``, ``release/**``) on a branch or tag name."""
    return any(fnmatch.fnmatchcase(name, p.replace("**", "*")) for p in patterns)

