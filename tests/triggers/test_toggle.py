"""``trigger.Toggle`` under a real daemon: a webhook-launched run switches another flow's
schedule off and on, in the stored state the daemon obeys and the UI's switch shows."""

from __future__ import annotations

import pytest

from .test_daemon_triggers import WAIT, _post

pytestmark = pytest.mark.slow


def _schedule_status(dep) -> str | None:
    states = [s for s in dep.instance.all_instigator_state() if s.origin.instigator_name.startswith("demo_toggle__target")]
    return states[0].status.value if states else None


def test_toggle_disables_then_enables_another_flows_schedule(deployment):
    dep = deployment
    for enabled, expected in ((False, "STOPPED"), (True, "RUNNING")):
        delivery = _post(dep, "toggler", {"enabled": enabled}, namespace="demo.toggle", key="toggle-key")
        (run,) = dep.wait_for_runs(WAIT, finished=True, tags={"kestra/delivery_id": delivery})
        assert run.tags["kestra/state"] == "SUCCESS", dep.log_text("daemon")[-2000:]
        assert _schedule_status(dep) == expected
        (state,) = [s for s in dep.instance.all_instigator_state()
                    if s.origin.instigator_name.startswith("demo_toggle__target")]
        # the code location the daemon runs, not a made-up one
        assert state.origin.repository_origin == run.remote_job_origin.repository_origin
