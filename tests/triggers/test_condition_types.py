"""Condition types are models registered like tasks: a family's CONDITIONS, one scope each."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

import pytest

from kestra_dagster.registry import get_registry, reset_registry
from kestra_dagster.triggers.conditions import (
    CALENDAR_SCOPE,
    GENERIC_SCOPE,
    Condition,
    ConditionContext,
    ConditionError,
    check_conditions,
    evaluate,
)

NOW = ConditionContext(now=datetime(2024, 1, 6, 12, 0, tzinfo=timezone.utc))  # a Saturday


class EvenMinute(Condition):
    """The trigger date's minute is even (a plugin's condition)."""

    kestra_type: ClassVar[str] = "io.example.condition.EvenMinute"
    kestra_scope: ClassVar[str] = GENERIC_SCOPE
    offset: Any = 0

    def holds(self, ctx: ConditionContext) -> bool:
        return (ctx.now.minute + int(self.offset)) % 2 == 0


@pytest.fixture
def plugin_condition():
    reset_registry()
    get_registry().add(EvenMinute, package="example:conditions", kind="condition")
    yield
    reset_registry()


def test_builtin_conditions_are_registered_with_their_scope():
    entries = {e.type.rsplit(".", 1)[-1]: e.cls for e in get_registry().of_kind("condition")}
    assert entries["Weekend"].kestra_scope == CALENDAR_SCOPE
    assert entries["ExecutionStatus"].kestra_scope == "execution"
    assert entries["MultipleCondition"].kestra_scope == "multiple"
    # old Kestra names resolve to the same type
    assert evaluate({"type": "io.kestra.core.models.conditions.types.DayWeekCondition", "dayOfWeek": "SATURDAY"}, NOW)


def test_a_plugin_condition_is_accepted_and_evaluated(plugin_condition):
    cond = {"type": "io.example.condition.EvenMinute", "offset": 1}
    assert check_conditions([cond], {GENERIC_SCOPE}, "conditions") == []
    assert evaluate(cond, NOW) is False and evaluate({**cond, "offset": 0}, NOW) is True
    # inside Not/Or too
    assert evaluate({"type": "io.kestra.plugin.core.condition.Not", "conditions": [cond]}, NOW) is True


def test_a_condition_outside_the_triggers_scopes_is_refused_at_load_time():
    problems = check_conditions([{"type": "io.kestra.plugin.core.condition.ExecutionStatus", "in": ["SUCCESS"]}],
                                {CALENDAR_SCOPE, GENERIC_SCOPE}, "conditions")
    assert len(problems) == 1 and problems[0].startswith(
        "conditions[0]: condition type 'io.kestra.plugin.core.condition.ExecutionStatus' is not supported on this trigger")


def test_an_unknown_condition_is_refused():
    # The loader reports an unknown condition type as unsupported (with its kind, located);
    # the trigger's own check leaves it to that report instead of saying it twice.
    assert check_conditions([{"type": "io.example.Nope"}], {GENERIC_SCOPE}, "c") == []
    with pytest.raises(ConditionError):
        evaluate({"type": "io.example.Nope"}, NOW)
