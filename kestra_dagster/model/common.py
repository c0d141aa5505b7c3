"""Building blocks shared by every Kestra schema model: durations, retry policies, the task base.

Everything here mirrors Kestra's Java model 1:1 (property names in camelCase, same defaults) and
has no Dagster import, so the model can be used by the validator, the JSON Schema and the engine
alike.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    WithJsonSchema,
)

_TIMEDELTA = TypeAdapter(timedelta)
_ISO_DURATION = re.compile(r"(?i)^-?P(?!$)(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$")


def is_dynamic(value: Any) -> bool:
    """True when a string holds a Pebble expression and can only be known at run time."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def parse_duration(value: Any) -> timedelta:
    """ISO-8601 duration (``PT30S``, ``P1DT2H``) → timedelta; raises ValueError with the rule."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or not _ISO_DURATION.match(value.strip()):
        raise ValueError(
            f"expected an ISO-8601 duration such as PT30S, PT5M or P1D, got {value!r}"
        )
    return _TIMEDELTA.validate_python(value.strip().upper())  # Java accepts `PT0.25s` too


def _check_duration(value: Any) -> Any:
    if value is None or is_dynamic(value):
        return value
    parse_duration(value)
    return value


# Durations stay as the user wrote them (so expressions survive) and are checked at load time.
Duration = Annotated[
    str,
    BeforeValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": "^P|\\{\\{", "description": "ISO-8601 duration, e.g. PT30S"}),
]


class KestraModel(BaseModel):
    """Base of all schema models: unknown keys are errors, like Kestra's strict deserialiser.

    ``defer_build``: a model's validator is built when a flow first uses it, not when its plugin
    is imported; a code location imports ~100 task types and its flows use a handful.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False, defer_build=True)


# --------------------------------------------------------------------------- retry


class _RetryBase(KestraModel):
    maxAttempt: int | None = Field(default=None, ge=1)
    maxDuration: Duration | None = None
    warningOnRetry: bool = False
    behavior: Literal["RETRY_FAILED_TASK", "CREATE_NEW_EXECUTION"] = "RETRY_FAILED_TASK"


class ConstantRetry(_RetryBase):
    type: Literal["constant"]
    interval: Duration

    def delay(self, attempt: int) -> timedelta:
        """Delay before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        return parse_duration(self.interval)


class ExponentialRetry(_RetryBase):
    type: Literal["exponential"]
    interval: Duration
    maxInterval: Duration
    delayFactor: float = 2.0

    def delay(self, attempt: int) -> timedelta:
        # Kestra PR #17031 semantics: interval * factor^(n-1), capped at maxInterval.
        base = parse_duration(self.interval) * (self.delayFactor ** (attempt - 1))
        return min(base, parse_duration(self.maxInterval))


class RandomRetry(_RetryBase):
    type: Literal["random"]
    minInterval: Duration
    maxInterval: Duration

    def delay(self, attempt: int) -> timedelta:
        import random

        lo, hi = parse_duration(self.minInterval), parse_duration(self.maxInterval)
        return lo + (hi - lo) * random.random()


Retry = Annotated[Union[ConstantRetry, ExponentialRetry, RandomRetry], Field(discriminator="type")]


# --------------------------------------------------------------------------- tasks


def _string_or_bool(v: Any) -> Any:
    # runIf/when are rendered strings in Kestra; YAML booleans are accepted and kept as text.
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


class Task(KestraModel):
    """Properties every Kestra task has (``io.kestra.core.models.tasks.Task``).

    A concrete task type subclasses this, adds its own properties and sets ``kestra_type``;
    runnable tasks implement ``run(ctx)``, flowable ones ``execute(runner, scope)``.
    """

    kestra_type: ClassVar[str] = ""
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    kestra_family: ClassVar[str] = "core"
    #: True for tasks that hold other tasks (If, ForEach, …); the engine walks into them.
    is_flowable: ClassVar[bool] = False
    #: Property names that hold task lists, for flowables (walked by the validator).
    child_task_fields: ClassVar[tuple[str, ...]] = ()
    #: False for tasks Kestra does not run on a worker (flowables, Pause, Subflow): they cannot
    #: sit inside a WorkingDirectory.
    runs_on_worker: ClassVar[bool] = True

    id: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$", max_length=100)
    type: str
    description: str | None = None
    retry: Retry | None = None
    timeout: Duration | None = None
    disabled: bool = False
    workerGroup: dict | None = None
    logLevel: Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] | None = None
    logToFile: bool = False
    allowFailure: bool = False
    allowWarning: bool = False
    runIf: Annotated[str, BeforeValidator(_string_or_bool)] | None = None
    when: Annotated[str, BeforeValidator(_string_or_bool)] | None = None
    taskCache: dict | None = None

    @property
    def run_condition(self) -> str | None:
        """The run condition, whichever name (``runIf`` or Kestra 2's ``when``) the flow used."""
        return self.when if self.when is not None else self.runIf

    def child_lists(self) -> list[tuple[str, list["Task"]]]:
        """(property name, tasks) for every task list this task holds, in execution order."""
        out: list[tuple[str, list[Task]]] = []
        for name in self.child_task_fields:
            value = getattr(self, name, None)
            if isinstance(value, Task):  # a single task, e.g. Pause.onPause
                out.append((name, [value]))
            elif isinstance(value, list):
                out.append((name, value))
            elif isinstance(value, dict):  # Switch cases: {key: [tasks]}
                for key, tasks in value.items():
                    out.append((f"{name}.{key}", tasks))
        return out


class UnsupportedTask(Task):
    """A task whose type no installed plugin provides: kept so the flow still parses."""

    model_config = ConfigDict(extra="allow")


class Property(KestraModel):
    """Placeholder for free-form maps (kept for schema generation readability)."""

    model_config = ConfigDict(extra="allow")
