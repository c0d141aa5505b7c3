"""The Kestra flow document (``io.kestra.core.models.flows.Flow``), mirrored 1:1.

Task and trigger lists hold instances of the concrete classes the registry resolved (see
``model.loader``), so ``Flow`` itself stays a plain schema model with no Dagster knowledge.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from kestra_dagster.model.common import Duration, KestraModel, Retry, Task, parse_duration
from kestra_dagster.model.inputs import Input
from kestra_dagster.model.triggers import Trigger

FLOW_ID_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$"
NAMESPACE_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"

#: Keys some Kestra exports carry that are not part of the authored flow; ignored on load.
IGNORED_TOP_LEVEL_KEYS = ("extend", "revision", "deleted", "tenantId", "updated")
#: ``system.`` labels a flow author may set (Kestra reserves the rest for itself).
ALLOWED_SYSTEM_LABELS = ("system.readOnly",)


class Concurrency(KestraModel):
    limit: int = Field(ge=1)
    behavior: Literal["QUEUE", "CANCEL", "FAIL"] = "QUEUE"


class PluginDefault(KestraModel):
    type: str
    forced: bool = False
    values: dict[str, Any] = Field(default_factory=dict)

    def applies_to(self, task_type: str) -> bool:
        """Exact class name, or a package prefix such as ``io.kestra.plugin.scripts``."""
        return task_type == self.type or task_type.startswith(self.type.rstrip(".") + ".")


class FlowOutput(KestraModel):
    id: str = Field(pattern=r"^[a-zA-Z0-9][.a-zA-Z0-9_-]*$")
    type: str = "STRING"
    value: Any = None
    description: str | None = None
    displayName: str | None = None
    required: bool = True


class Listener(KestraModel):
    """Deprecated ``listeners`` block: tasks run after the execution when conditions match."""

    description: str | None = None
    conditions: list[dict] = Field(default_factory=list)
    tasks: list[Task] = Field(min_length=1)


class SLA(KestraModel):
    """A flow SLA: ``MAX_DURATION`` needs ``duration``, ``EXECUTION_ASSERTION`` needs ``assert``."""

    id: str
    type: Literal["MAX_DURATION", "EXECUTION_ASSERTION"]
    behavior: Literal["FAIL", "CANCEL", "NONE"] = "FAIL"
    duration: Duration | None = None
    assert_: str | None = Field(default=None, alias="assert")
    labels: dict | list | None = None

    @model_validator(mode="after")
    def _needs_its_property(self):
        if self.type == "MAX_DURATION" and not self.duration:
            raise ValueError(f"SLA '{self.id}' of type MAX_DURATION needs a duration (e.g. duration: PT1H)")
        if self.duration:
            parse_duration(self.duration)  # a fixed duration, as in Kestra (no expression)
        if self.type == "EXECUTION_ASSERTION" and not (self.assert_ or "").strip():
            raise ValueError(f"SLA '{self.id}' of type EXECUTION_ASSERTION needs an assert expression "
                             "(e.g. assert: \"{{ inputs.x != 'bad' }}\")")
        return self


class Flow(KestraModel):
    id: str = Field(pattern=FLOW_ID_PATTERN, max_length=100)
    namespace: str = Field(pattern=NAMESPACE_PATTERN, max_length=150)
    description: str | None = None
    labels: dict[str, Any] | list[dict[str, Any]] | None = None
    inputs: list[Input] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict)
    tasks: list[Task] = Field(min_length=1)
    errors: list[Task] = Field(default_factory=list)
    finally_: list[Task] = Field(default_factory=list, alias="finally")
    afterExecution: list[Task] = Field(default_factory=list)
    listeners: list[Listener] = Field(default_factory=list)
    triggers: list[Trigger] = Field(default_factory=list)
    pluginDefaults: list[PluginDefault] = Field(default_factory=list)
    taskDefaults: list[PluginDefault] = Field(default_factory=list)
    concurrency: Concurrency | None = None
    outputs: list[FlowOutput] = Field(default_factory=list)
    retry: Retry | None = None
    sla: list[SLA] = Field(default_factory=list)
    disabled: bool = False

    @field_validator("labels")
    @classmethod
    def _no_system_labels(cls, v):
        for key in label_map(v):
            if key.startswith("system.") and key not in ALLOWED_SYSTEM_LABELS:
                raise ValueError(f"label '{key}' uses the reserved 'system.' prefix; choose another key")
        return v

    @property
    def uid(self) -> str:
        return f"{self.namespace}.{self.id}"

    def label_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in label_map(self.labels).items()}

    def all_defaults(self) -> list[PluginDefault]:
        return [*self.taskDefaults, *self.pluginDefaults]


def label_map(labels: Any) -> dict[str, Any]:
    """Kestra accepts labels as a map or as a list of ``{key, value}``; normalise to a map."""
    if not labels:
        return {}
    if isinstance(labels, dict):
        return dict(labels)
    out = {}
    for item in labels:
        if isinstance(item, dict) and "key" in item:
            out[str(item["key"])] = item.get("value")
    return out
