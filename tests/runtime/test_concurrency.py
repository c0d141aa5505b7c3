"""Flow ``concurrency`` with real overlapping runs on one persistent Dagster instance.

A first run holds the only slot (a Sleep); while it is STARTED, a second run of the same flow is
launched from another DagsterInstance object on the same directory, as a second launcher would.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from .conftest import Outcome, execute, flow_path, ts

HOLD = "PT2.5S"


def _hold_the_slot(name: str, home: Path) -> tuple[threading.Thread, dict]:
    box: dict = {}
    home.mkdir(parents=True, exist_ok=True)
    DagsterInstance.local_temp(str(home)).dispose()  # create the storage once, before the threads

    def first() -> None:
        with DagsterInstance.local_temp(str(home)) as instance:
            box["outcome"] = execute(flow_path("concurrency", name), inputs={"nap": HOLD}, instance=instance)

    thread = threading.Thread(target=first, daemon=True)
    thread.start()
    job = f"tests_concurrency__{Path(name).stem}"
    deadline = time.monotonic() + 30
    with DagsterInstance.local_temp(str(home)) as probe:
        while time.monotonic() < deadline:
            if probe.get_run_records(filters=RunsFilter(job_name=job, statuses=[DagsterRunStatus.STARTED])):
                return thread, box
            time.sleep(0.05)
    pytest.fail("the first run never started")


def _second(name: str, home: Path) -> Outcome:
    with DagsterInstance.local_temp(str(home)) as instance:
        return execute(flow_path("concurrency", name), instance=instance)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, state", [("concurrency_fail.yaml", "FAILED"), ("concurrency_cancel.yaml", "CANCELLED")])
def test_second_run_is_refused_while_the_first_runs(tmp_path, name, state):
    thread, box = _hold_the_slot(name, tmp_path / "home")
    second = _second(name, tmp_path / "home")
    assert not second.success
    assert second.state == state
    assert second.tags["kestra/state"] == state
    assert second.task_states == {}  # refused before its first task ran
    assert second.steps("STEP_FAILURE") == ["kestra_start"]  # refused before any task step
    assert f"already has 1 running execution(s) (limit 1): execution {state}" in second.raw_log
    thread.join(30)
    first: Outcome = box["outcome"]
    assert first.state == "SUCCESS"
    # After the first run ended, the slot is free again.
    third = _second(name, tmp_path / "home")
    assert third.state == "SUCCESS"


@pytest.mark.timeout(60)
def test_queued_run_waits_for_the_slot(tmp_path):
    thread, box = _hold_the_slot("concurrency_queue.yaml", tmp_path / "home")
    second = _second("concurrency_queue.yaml", tmp_path / "home")
    thread.join(30)
    first: Outcome = box["outcome"]
    assert first.state == "SUCCESS" and second.state == "SUCCESS"
    assert ts(second.run("hold").started) >= ts(first.run("hold").ended)
    assert "QUEUED until one ends" in second.log_text()
    assert "concurrency slot free: execution starts" in second.log_text()
