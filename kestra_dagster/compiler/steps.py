"""What marks the compiler's steps, and how a Kestra task failure fails one.

Every op the compiler builds carries ``KESTRA_STEP_TAG``: ``compat.install_step_rules`` applies
Kestra's rules (a failed task's step is red while ``errors``/``finally`` still run) to those steps
only. A task that ends FAILED/KILLED fails its step with ``TaskFailure``: the task's own message,
no Python stack (the stack would be Dagster's and ours, not the task's).
"""

from __future__ import annotations

from typing import Any, Mapping

from dagster import Failure

from kestra_dagster import compat

KESTRA_STEP_TAG = "kestra/step"


class TaskFailure(Failure):
    """A Kestra task ended FAILED or KILLED: the step fails with what the task said."""

    def __init__(self, message: str, metadata: Mapping[str, Any] | None = None):
        super().__init__(description=message, metadata=metadata, allow_retries=False)
        self.message = message


def install() -> None:
    compat.install_step_rules(KESTRA_STEP_TAG, TaskFailure)
