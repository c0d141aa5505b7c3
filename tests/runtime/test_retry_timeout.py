"""retry (constant, exponential, maxAttempt, maxDuration, warningOnRetry, inheritance) and timeout.

A test-only task type, ``tests.kestra_dagster.Flaky``, fails its first ``failures`` attempts and
records when each attempt started, so delays between attempts can be measured.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import ClassVar

import pytest

from kestra_dagster.errors import TaskFailed
from kestra_dagster.registry import get_registry
from kestra_dagster.tasks.base import RunnableTask

from .conftest import dump

ATTEMPTS: dict[str, list[tuple[int, float]]] = defaultdict(list)
_LOCK = threading.Lock()


class Flaky(RunnableTask):
    """Test-only: fail the first ``failures`` attempts, then succeed."""

    kestra_type: ClassVar[str] = "tests.kestra_dagster.Flaky"

    key: str
    failures: int = 0

    def run(self, ctx):
        attempt = ctx.taskrun.attempts_count
        with _LOCK:
            ATTEMPTS[self.key].append((attempt, time.monotonic()))
        if attempt <= self.failures:
            raise TaskFailed(f"attempt {attempt} of {self.key} fails on purpose")
        return {"attempt": attempt}


@pytest.fixture(autouse=True)
def flaky_type():
    registry = get_registry()
    registry.add(Flaky, package="tests")
    ATTEMPTS.clear()
    yield
    registry.entries.pop(Flaky.kestra_type, None)


def _gaps(key: str) -> list[float]:
    times = [t for _, t in ATTEMPTS[key]]
    return [b - a for a, b in zip(times, times[1:])]


def test_constant_retry_until_success(run_flow):
    out = run_flow("retry", "retry_constant.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert out.run("flaky").attempts == 3
    assert [a for a, _ in ATTEMPTS["constant"]] == [1, 2, 3]
    assert all(g >= 0.09 for g in _gaps("constant"))
    assert out.outputs["flaky"] == {"attempt": 3}
    assert out.outputs["after"] == {"value": "after 3 attempts"}
    assert "attempt 1 failed" in out.log_text() and "retrying in PT0.1S" in out.log_text()
    # A top-level task is its own op: each retry is a Dagster step retry, visible in the run.
    assert out.steps("STEP_UP_FOR_RETRY") == ["flaky", "flaky"]
    assert out.steps("STEP_RESTARTED") == ["flaky", "flaky"]


def test_retry_stops_at_max_attempt(run_flow):
    out = run_flow("retry", "retry_exhausted.yaml")
    assert out.state == "FAILED", dump(out)
    assert out.run("flaky").attempts == 3
    assert len(ATTEMPTS["exhausted"]) == 3
    assert out.run("flaky").error == "attempt 3 of exhausted fails on purpose"
    assert out.task_states["handler"] == "SUCCESS"  # errors run once, after the last attempt
    assert out.steps("STEP_FAILURE") == ["flaky"]


def test_exponential_retry_grows_and_is_capped(run_flow):
    out = run_flow("retry", "retry_exponential.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert out.run("flaky").attempts == 4
    # interval * factor^(n-1), capped at maxInterval: 0.1, 0.2, then 0.25 instead of 0.4
    delays = [m.split("retrying in ")[1] for m in out.messages if "retrying in " in m]
    assert delays == ["PT0.1S", "PT0.2S", "PT0.25S"]  # as Kestra writes durations; uncapped would be PT0.4S
    g1, g2, g3 = _gaps("exponential")  # each gap is the delay plus the attempt's own run time
    assert g1 >= 0.09 and g2 >= 0.19 and g3 >= 0.24
    assert g3 < 0.4 + 0.3


def test_retry_stops_when_max_duration_would_be_exceeded(run_flow):
    out = run_flow("retry", "retry_max_duration.yaml")
    assert out.state == "FAILED"
    # attempts at ~0, 0.3, 0.6 s; a fourth would start at >= 0.9 s, past PT0.9S
    assert out.run("flaky").attempts == 3
    assert len(ATTEMPTS["duration"]) == 3


def test_warning_on_retry(run_flow):
    out = run_flow("retry", "retry_warning.yaml")
    assert out.state == "WARNING"
    assert out.task_states == {"flaky": "WARNING"}
    assert out.run("flaky").attempts == 2


def test_flow_and_flowable_retry_are_inherited(run_flow):
    out = run_flow("retry", "retry_inherited.yaml")
    assert out.state == "SUCCESS", dump(out)
    assert out.run("from_flow").attempts == 2
    assert out.run("from_parent").attempts == 4  # the Sequential's policy, not the flow's
    # Every task that is a step of its own retries as a Dagster step, nested ones included
    # (Kestra retries the task, not the Sequential).
    assert out.steps("STEP_UP_FOR_RETRY") == ["from_flow", "seq.from_parent", "seq.from_parent", "seq.from_parent"]


def test_timeout_stops_a_sleep_and_fails(run_flow):
    started = time.monotonic()
    out = run_flow("timeout", "timeout.yaml")
    assert time.monotonic() - started < 5
    assert out.state == "FAILED", dump(out)
    assert out.task_states == {"slow": "FAILED"}
    assert "never" in out.steps("STEP_SKIPPED")
    assert out.run("slow").error == "task 'slow' timed out after PT0.3S"
    assert "timed out after PT0.3S" in out.log_text()


def test_timeout_still_retries(run_flow):
    started = time.monotonic()
    out = run_flow("timeout", "timeout_retry.yaml")
    assert time.monotonic() - started < 6
    assert out.state == "FAILED"
    assert out.run("slow").attempts == 2


def test_task_within_its_timeout_succeeds(run_flow):
    out = run_flow("timeout", "timeout_ok.yaml")
    assert out.state == "SUCCESS"
