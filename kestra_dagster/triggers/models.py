"""Trigger schema models, mirrored 1:1 from Kestra (no Dagster import here).

Kestra's own types keep Kestra's names and properties. Types Kestra lacks (Git events with
signature checks, Git polling) use the ``io.kestra_dagster.plugin.`` prefix so nobody mistakes them for
Kestra's. ``compiler.triggers`` turns each model into a Dagster schedule or sensor.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from kestra_dagster.model.common import Duration, KestraModel, is_dynamic
from kestra_dagster.model.triggers import Trigger
from kestra_dagster.triggers.conditions import (
    CALENDAR_SCOPE,
    EXECUTION_SCOPE,
    GENERIC_SCOPE,
    MULTIPLE_SCOPE,
    ConditionError,
    check_conditions,
    parse_time,
)

_CRON_NICKNAMES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,\-?#LW]+$")


def _check_timezone(value: str | None) -> str | None:
    if value is None or is_dynamic(value):
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Paris or UTC") from None
    return value


#: What a trigger evaluated at a point in time (schedule tick, delivery, poll) can check.
AT_A_DATE = {CALENDAR_SCOPE, GENERIC_SCOPE}


def _check_conditions(trigger: Trigger, allowed: set[str]) -> None:
    problems = check_conditions(list(trigger.conditions), allowed, "conditions")
    if problems:
        raise ValueError("; ".join(problems))


# ----------------------------------------------------------------------------- Schedule


class Schedule(Trigger):
    """Start the flow on a cron schedule (a Dagster schedule)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.trigger.Schedule"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.models.triggers.types.Schedule",)

    cron: str
    withSeconds: bool = False
    timezone: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    lateMaximumDelay: Duration | None = None
    recoverMissedSchedules: Literal["LAST", "NONE", "ALL"] | None = None
    backfill: dict[str, Any] | None = None
    scheduleConditions: list[dict[str, Any]] | None = None

    _check_tz = field_validator("timezone")(_check_timezone)

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        text = value.strip()
        if text.lower() in _CRON_NICKNAMES:
            return text
        fields = text.split()
        if len(fields) not in (5, 6) or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(
                f"invalid cron expression {value!r}: expected 5 fields (minute hour day-of-month month day-of-week), "
                "6 with withSeconds: true, or one of " + ", ".join(sorted(_CRON_NICKNAMES))
            )
        return text

    @model_validator(mode="after")
    def _check_seconds(self) -> "Schedule":
        n = len(self.cron.split())
        if n == 6 and not self.withSeconds:
            raise ValueError(f"cron {self.cron!r} has 6 fields; set withSeconds: true or drop the seconds field")
        if n == 5 and self.withSeconds:
            raise ValueError(f"withSeconds: true needs a 6-field cron (seconds first), got {self.cron!r}")
        problems = check_conditions(self.all_conditions, AT_A_DATE, "conditions")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def all_conditions(self) -> list[dict[str, Any]]:
        return [*self.conditions, *(self.scheduleConditions or [])]


class ScheduleOnDates(Trigger):
    """Start the flow once at each listed date (evaluated by a sensor)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.trigger.ScheduleOnDates"

    dates: list[str] | str
    timezone: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    recoverMissedSchedules: Literal["LAST", "NONE", "ALL"] | None = None

    _check_tz = field_validator("timezone")(_check_timezone)


# ----------------------------------------------------------------------------- Webhook


class Webhook(Trigger):
    """Start the flow on an HTTP call to /api/v1/executions/webhook/{namespace}/{flowId}/{key}."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.trigger.Webhook"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.models.triggers.types.Webhook",)
    #: Which intake checks this trigger's calls need (see ``triggers.git_events``).
    provider: ClassVar[str] = "plain"

    key: str = Field(min_length=1, max_length=256)
    inputs: dict[str, Any] = Field(default_factory=dict)
    #: Hold the HTTP answer until the execution ends (at most the intake's ``--max-wait``, then 202).
    wait: bool = False
    #: With ``wait``: answer with the flow's ``outputs`` instead of the execution summary.
    returnOutputs: bool = False
    responseContentType: Literal["application/json", "text/plain"] | None = None
    #: With ``wait`` and ``returnOutputs``: the status to answer (default 200, 500 when the execution failed).
    responseCode: int | str | None = None

    @model_validator(mode="after")
    def _check_wait(self) -> "Webhook":
        # Kestra's WebhookValidation: the response options only mean something when the call waits.
        if self.returnOutputs and not self.wait:
            raise ValueError("returnOutputs needs wait: true (the outputs exist only once the execution has ended)")
        for name in ("responseContentType", "responseCode"):
            if getattr(self, name) is not None and not (self.wait and self.returnOutputs):
                raise ValueError(f"{name} needs wait: true and returnOutputs: true")
        _check_conditions(self, AT_A_DATE)
        return self


class _GitWebhook(Webhook):
    """Common properties of the Git-provider webhooks (signature + event filters)."""

    #: The shared secret: HMAC key (GitHub) or token (GitLab). Usually ``{{ secret('NAME') }}``.
    secret: str | None = None
    #: Event names to accept (GitHub ``X-GitHub-Event`` / normalised GitLab ``object_kind``); empty = all.
    events: list[str] = Field(default_factory=list)
    #: Glob patterns on branch names (push: the pushed branch; pull/merge requests: the target branch).
    branches: list[str] = Field(default_factory=list)
    #: Glob patterns on tag names (push of ``refs/tags/...``, GitHub ``create`` of a tag).
    tags: list[str] = Field(default_factory=list)
    #: Pull/merge request actions to accept (GitHub ``opened``, ``synchronize``…; GitLab ``open``, ``update``…).
    actions: list[str] = Field(default_factory=list)
    #: Accept deliveries nobody signed: only when said explicitly (anyone who knows the key can then call).
    allowUnsigned: bool = False

    @model_validator(mode="after")
    def _check_secret(self) -> "_GitWebhook":
        if self.secret is not None and not self.secret.strip():
            raise ValueError("secret is empty: set it (usually \"{{ secret('NAME') }}\") or remove it and set "
                             "allowUnsigned: true")
        if self.secret is None and not self.allowUnsigned:
            raise ValueError("secret is required: the deliveries must be signed with it; to accept unsigned "
                             "deliveries say so explicitly with allowUnsigned: true")
        if self.secret is not None and self.allowUnsigned:
            raise ValueError("allowUnsigned: true contradicts secret: remove one of them")
        return self


class GitHubWebhook(_GitWebhook):
    """GitHub webhook: verifies X-Hub-Signature-256 (HMAC SHA-256) and filters events, refs, PR actions."""

    kestra_type: ClassVar[str] = "io.kestra_dagster.plugin.git.GitHubWebhook"
    provider: ClassVar[str] = "github"


class GitLabWebhook(_GitWebhook):
    """GitLab webhook: verifies X-Gitlab-Token and filters events, refs, merge-request actions."""

    kestra_type: ClassVar[str] = "io.kestra_dagster.plugin.git.GitLabWebhook"
    provider: ClassVar[str] = "gitlab"


# ----------------------------------------------------------------------------- Flow


class PreconditionFlow(KestraModel):
    namespace: str
    #: Unset: any flow of the namespace.
    flowId: str | None = None
    states: list[str] | None = None
    labels: dict[str, Any] | list[dict[str, Any]] | None = None


class PreconditionFilter(KestraModel):
    field: Literal["FLOW_ID", "NAMESPACE", "STATE", "EXPRESSION"]
    type: str
    value: Any = None
    values: list[Any] | None = None


class PreconditionWhere(KestraModel):
    id: str
    operand: Literal["AND", "OR"] = "AND"
    filters: list[PreconditionFilter] = Field(default_factory=list)


class TimeWindow(KestraModel):
    """When the preconditions must all be met (Kestra's SLA window); see ``compiler.triggers.window_bounds``."""

    type: Literal["DURATION_WINDOW", "SLIDING_WINDOW", "DAILY_TIME_WINDOW", "DAILY_TIME_DEADLINE"] = "DURATION_WINDOW"
    window: Duration | None = None
    windowAdvance: Duration | None = None
    startTime: str | None = None
    endTime: str | None = None
    deadline: str | None = None
    #: Zone of the daily times (Kestra: the server's zone when unset; here too).
    timezone: str | None = None

    _check_tz = field_validator("timezone")(_check_timezone)

    @field_validator("startTime", "endTime", "deadline")
    @classmethod
    def _check_time(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_time(value)
            except ConditionError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _check_fields(self) -> "TimeWindow":
        # Kestra's TimeWindowValidator: each type takes only its own properties.
        own = {"DURATION_WINDOW": {"window", "windowAdvance"}, "SLIDING_WINDOW": {"window"},
               "DAILY_TIME_WINDOW": {"startTime", "endTime"}, "DAILY_TIME_DEADLINE": {"deadline"}}[self.type]
        stray = [f for f in ("window", "windowAdvance", "startTime", "endTime", "deadline")
                 if getattr(self, f) is not None and f not in own]
        if stray:
            raise ValueError(f"a time window of type {self.type} cannot have {', '.join(stray)} "
                             f"(it takes {', '.join(sorted(own))})")
        missing = [f for f in own - {"window", "windowAdvance"} if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a time window of type {self.type} needs {', '.join(sorted(missing))}")
        return self


class Preconditions(KestraModel):
    id: str | None = None
    flows: list[PreconditionFlow] = Field(default_factory=list)
    where: list[PreconditionWhere] = Field(default_factory=list)
    timeWindow: TimeWindow | None = None
    resetOnSuccess: bool = True


class FlowTrigger(Trigger):
    """Start the flow when other executions end (a Dagster run-status sensor)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.trigger.Flow"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.core.models.triggers.types.Flow",)

    states: list[str] | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    preconditions: Preconditions | None = None

    @field_validator("states")
    @classmethod
    def _check_states(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        allowed = {"RUNNING", "PAUSED", "SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED"}
        bad = [s for s in value if s not in allowed]
        if "CREATED" in bad:
            raise ValueError("a Flow trigger cannot listen to CREATED (Kestra forbids it)")
        if bad:
            raise ValueError(f"unknown state(s) {bad}; use {sorted(allowed)}")
        return value

    @model_validator(mode="after")
    def _check_flow_conditions(self) -> "FlowTrigger":
        _check_conditions(self, AT_A_DATE | {EXECUTION_SCOPE, MULTIPLE_SCOPE})
        return self


# ----------------------------------------------------------------------------- S3


class MoveTo(KestraModel):
    key: str
    bucket: str | None = None


class S3Trigger(Trigger):
    """Poll an S3 bucket; one execution per poll with the new objects in trigger.objects."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.aws.s3.Trigger"

    interval: Duration = "PT60S"
    accessKeyId: str | None = None
    secretKeyId: str | None = None
    sessionToken: str | None = None
    region: str | None = None
    endpointOverride: str | None = None
    forcePathStyle: bool | None = None
    compatibilityMode: bool = False
    bucket: str
    prefix: str | None = None
    delimiter: str | None = None
    maxKeys: int = Field(default=1000, ge=1, le=1000)
    regexp: str | None = None
    filter: Literal["FILES", "DIRECTORY", "BOTH"] = "BOTH"
    action: Literal["MOVE", "DELETE", "NONE"]
    moveTo: MoveTo | None = None
    maxFiles: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check_move(self) -> "S3Trigger":
        if self.action == "MOVE" and self.moveTo is None:
            raise ValueError("action MOVE needs moveTo (key prefix, optional bucket)")
        if self.regexp is not None and not is_dynamic(self.regexp):
            try:
                re.compile(self.regexp)
            except re.error as exc:
                raise ValueError(f"regexp {self.regexp!r} is not a valid regular expression: {exc}") from None
        _check_conditions(self, AT_A_DATE)
        return self


# ----------------------------------------------------------------------------- HTTP polling


class HttpTrigger(Trigger):
    """Poll an HTTP endpoint; start an execution each time responseCondition holds (trigger.code/body/headers)."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.http.Trigger"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.fs.http.Trigger",)

    uri: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    body: str | None = None
    contentType: str | None = None
    headers: dict[str, Any] = Field(default_factory=dict)
    formData: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    interval: Duration = "PT60S"
    responseCondition: str = "{{ response.statusCode < 400 }}"
    #: Kestra encrypts the body in the trigger outputs; we keep it out of the run (run config is visible).
    encryptBody: bool = False
    inputs: dict[str, Any] = Field(default_factory=dict)


# ----------------------------------------------------------------------------- Git polling


class GitPolling(Trigger):
    """Poll a Git remote (git ls-remote); one execution per new or moved branch/tag that matches."""

    kestra_type: ClassVar[str] = "io.kestra_dagster.plugin.git.Polling"

    url: str
    #: Glob patterns on branch names; default: every branch when no tags are given.
    branches: list[str] = Field(default_factory=list)
    #: Glob patterns on tag names.
    tags: list[str] = Field(default_factory=list)
    interval: Duration = "PT60S"
    username: str | None = None
    password: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_git(self) -> "GitPolling":
        _check_conditions(self, AT_A_DATE)
        if "{{" not in self.url and "{%" not in self.url:  # a rendered url is checked when polled
            from kestra_dagster.triggers.git_poll import GitPollError, validate_url

            try:
                validate_url(self.url)
            except GitPollError as exc:
                raise ValueError(f"url: {exc}") from None
        return self


TRIGGERS = [Schedule, ScheduleOnDates, Webhook, GitHubWebhook, GitLabWebhook, FlowTrigger, S3Trigger, HttpTrigger,
            GitPolling]
WEBHOOK_TYPES = (Webhook,)
