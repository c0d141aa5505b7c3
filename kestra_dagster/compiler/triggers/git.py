"""Git ``Polling`` → a sensor running ``git ls-remote`` (``triggers.git_poll``)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from dagster import SensorDefinition, SkipReason, sensor

from kestra_dagster.model.common import parse_duration
from kestra_dagster.triggers.models import GitPolling
from kestra_dagster.compiler.triggers.common import (
    instigator_name,
    make_run_request,
    _render,
    _flow_vars,
    _conditions_hold,
    _status,
)

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow


# ============================================================================ Git polling


def build_git_sensor(compiled: "CompiledFlow", trigger: GitPolling) -> SensorDefinition:
    from kestra_dagster.triggers import git_poll

    flow = compiled.flow
    interval = max(1, int(parse_duration(trigger.interval).total_seconds()))

    @sensor(name=instigator_name(compiled, trigger), job=compiled.job, minimum_interval_seconds=interval,
            default_status=_status(trigger),
            description=f"Polls {trigger.url} (git ls-remote) every {trigger.interval} for `{flow.uid}`")
    def _git(context):
        variables = _flow_vars(flow)
        url = _render(trigger.url, variables)
        username = _render(trigger.username, variables) if trigger.username else None
        password = _render(trigger.password, variables) if trigger.password else None
        refs = git_poll.ls_remote(git_poll.with_credentials(url, username, password), secrets=(password or "",))
        previous = git_poll.load_cursor(context.cursor)
        found = git_poll.changes(previous, refs, trigger.branches, trigger.tags, url)
        context.update_cursor(json.dumps(refs, sort_keys=True))
        if previous is None:
            return SkipReason(f"first poll: {len(refs)} refs recorded, nothing runs for existing history")
        requests = []
        for change in found:
            variables = {**_flow_vars(flow), "trigger": change}
            if not _conditions_hold(trigger, datetime.now(timezone.utc), variables):
                continue
            inputs = _render(trigger.inputs, variables) if trigger.inputs else {}
            requests.append(make_run_request(compiled, trigger, change, run_key=f"{change['ref']}@{change['commit']}",
                                             inputs=inputs, tags={"kestra/git_ref": change["ref"][:200]}))
        return requests or SkipReason("no matching ref moved")

    return _git
