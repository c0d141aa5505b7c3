"""Per-run scratch space for tasks whose hooks (prepare, line_handler, run) share values."""

from __future__ import annotations


def run_state(ctx) -> dict:
    """Per-run scratch space on the task context: a task model may run in several threads at once
    (ForEach), so nothing of one run is kept on the model itself."""
    return ctx.__dict__.setdefault("_kd_run_state", {})
