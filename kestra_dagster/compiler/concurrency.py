"""Flow ``concurrency``: at most ``limit`` executions of a flow run at once.

Checked when an execution starts, against the Dagster instance's run records, so it holds for
every launcher and executor. Runs are ordered by creation time: an execution proceeds when fewer
than ``limit`` *older* executions of the flow are still running, which makes two runs starting
together agree on who goes first. QUEUE waits (the run shows ``kestra/state=QUEUED``), CANCEL
and FAIL end the new execution at once, tagged CANCELLED or FAILED like Kestra.
"""

from __future__ import annotations

import os
import time

from dagster import DagsterRunStatus, Failure, RunsFilter

from kestra_dagster.model.flow import Flow

#: How long a QUEUED execution waits for a slot before giving up (seconds).
QUEUE_TIMEOUT = float(os.environ.get("KESTRA_CONCURRENCY_QUEUE_TIMEOUT", 24 * 3600))
POLL_SECONDS = 1.0
_ACTIVE = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def enforce(context, flow: Flow, job_name: str) -> None:
    if flow.concurrency is None:
        return
    instance = context.instance
    mine = instance.get_run_record_by_id(context.run_id)
    created = mine.create_timestamp if mine else None
    deadline = time.monotonic() + QUEUE_TIMEOUT
    queued = False
    while True:
        running = instance.get_run_records(filters=RunsFilter(job_name=job_name, statuses=_ACTIVE))
        older = [r for r in running if r.dagster_run.run_id != context.run_id and (created is None or r.create_timestamp < created)]
        if len(older) < flow.concurrency.limit:
            if queued:
                instance.add_run_tags(context.run_id, {"kestra/state": "RUNNING"})
                context.log.info("concurrency slot free: execution starts")
            return
        behavior = flow.concurrency.behavior
        message = f"flow {flow.uid} already has {len(older)} running execution(s) (limit {flow.concurrency.limit})"
        if behavior in ("CANCEL", "FAIL"):
            state = "CANCELLED" if behavior == "CANCEL" else "FAILED"
            instance.add_run_tags(context.run_id, {"kestra/state": state})
            raise Failure(description=f"{message}: execution {state} (concurrency behavior {behavior})")
        if not queued:
            instance.add_run_tags(context.run_id, {"kestra/state": "QUEUED"})
            context.log.info(f"{message}: QUEUED until one ends")
            queued = True
        if time.monotonic() > deadline:
            raise Failure(description=f"{message}: still queued after {QUEUE_TIMEOUT:.0f}s")
        time.sleep(POLL_SECONDS)
