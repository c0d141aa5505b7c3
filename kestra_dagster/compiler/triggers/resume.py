"""The resume sensor: one per flow with gates; launches the next part once a gate is decided.

Each tick it first expires due gates (``expireBehavior``/``behavior`` decide what the next part
does), then requests a run of the next part for every decided gate, with ``run_key`` =
``resume-<approval id>`` so a decision starts exactly one run, and the decision (who, when) as
run tags, also mirrored onto the paused run.
"""

from __future__ import annotations

from dagster import DefaultSensorStatus, RunRequest, RunsFilter, SkipReason, sensor

from kestra_dagster.approvals.records import EXPIRED, DecisionRefused, iso_timestamp
from kestra_dagster.compiler.gates import TAG_APPROVAL, TAG_EXECUTION

RESUME_INTERVAL = 1


def build_resume_sensor(compiled):
    flow = compiled.flow
    parts = {job.name: job for job in compiled.parts}
    name = f"{compiled.job.name}__resume"

    @sensor(name=name, jobs=list(parts.values()), minimum_interval_seconds=RESUME_INTERVAL,
            default_status=DefaultSensorStatus.RUNNING,
            description=f"Starts the part of `{flow.uid}` after a Pause/Approval gate once it is decided or expires")
    def _resume(context):
        from kestra_dagster.approvals.store import ApprovalStore  # SQLAlchemy: only when the sensor ticks

        store = ApprovalStore.for_instance(context.instance)
        for record in store.due_to_expire(flow.uid):
            try:
                store.decide(record.approval_id, EXPIRED, by="system")
                context.log.info(f"gate {record.gate_id} of execution {record.execution_id} expired")
            except DecisionRefused:
                pass  # decided meanwhile
        decided = store.decided(flow.uid)
        if not decided:
            return SkipReason("no decided gate")
        requests = []
        for record in decided:
            run_key = f"resume-{record.approval_id}"
            existing = context.instance.get_run_ids(
                filters=RunsFilter(job_name=record.next_job, tags={TAG_APPROVAL: record.approval_id}), limit=1)
            if existing:
                store.mark_launched(record.approval_id, existing[0])
                continue
            decision_tags = {"kestra/decision": record.decision, "kestra/decided_by": (record.decided_by or "system")[:255],
                             "kestra/decided_at": iso_timestamp(record.decided_at) or ""}
            context.instance.add_run_tags(record.part_run_id, {"kestra/approval": record.decision, **decision_tags})
            requests.append(RunRequest(
                run_key=run_key, job_name=record.next_job, run_config={"resume": record.approval_id},
                tags={TAG_EXECUTION: record.execution_id, TAG_APPROVAL: record.approval_id,
                      "kestra/resumed_from": record.part_run_id, **decision_tags},
            ))
        return requests or SkipReason("decided gates already have their next part")

    return _resume
