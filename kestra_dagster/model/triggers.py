"""Trigger base model (``io.kestra.core.models.triggers.AbstractTrigger``).

Concrete trigger types (Schedule, Webhook, Flow, S3…) are registered like tasks, with
``kind = "trigger"``; the compiler turns them into Dagster schedules and sensors.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from kestra_dagster.model.common import KestraModel


class Trigger(KestraModel):
    kestra_type: ClassVar[str] = ""
    kestra_aliases: ClassVar[tuple[str, ...]] = ()
    kestra_family: ClassVar[str] = "core"

    id: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$", max_length=100)
    type: str
    description: str | None = None
    conditions: list[dict[str, Any]] = Field(default_factory=list)
    disabled: bool = False
    workerGroup: dict | None = None
    logLevel: str | None = None
    logToFile: bool = False
    labels: dict[str, Any] | list[dict[str, Any]] | None = None
    stopAfter: list[str] | None = None
    allowConcurrent: bool = False


class UnsupportedTrigger(Trigger):
    """A trigger whose type no installed plugin provides: kept so the flow still parses."""

    model_config = ConfigDict(extra="allow")
