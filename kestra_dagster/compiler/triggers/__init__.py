"""Flow ``triggers`` → Dagster schedules and sensors.

=================  ==========================================================================
Kestra trigger     Dagster
=================  ==========================================================================
Schedule           ``ScheduleDefinition`` (cron, timezone; ``trigger.date/next/previous`` and the
                   rendered ``inputs`` go in the run config; calendar ``conditions`` and
                   ``recoverMissedSchedules``/``lateMaximumDelay`` skip ticks)
ScheduleOnDates    sensor that requests one run per listed date once it has passed
Webhook (+ Git)    sensor over the delivery store written by the intake; ``run_key`` = delivery id
Flow               ``run_status_sensor`` per Dagster status the listened states need
aws.s3.Trigger     sensor polling the bucket (``triggers.s3_poll``)
fs.local.Trigger   sensor polling a directory (``triggers.local_files``)
http.Trigger       sensor polling a URL; a run whenever ``responseCondition`` holds
git Polling        sensor running ``git ls-remote`` (``triggers.git_poll``)
=================  ==========================================================================

One module per trigger kind builds its definitions (``schedule``, ``dates``, ``webhook``,
``flow``, ``s3``, ``http``, ``git``, ``local_files``; shared parts in ``common``), and
:class:`TriggerTranslator` maps each trigger model to its hook, the way ``KestraTranslator`` maps
tasks to ops: subclass it and override one hook to change how that kind compiles. A plugin's
trigger model brings its own translation with a ``build_definitions(compiled, catalog)`` method
returning schedules and sensors (the older ``build_sensor(compiled)`` still works).

Every run a trigger starts carries ``kestra/trigger`` (type) and ``kestra/trigger_id`` tags, and
the run config ``{"inputs", "trigger", "labels"}`` the compiled job expects. A trigger that
cannot be compiled is logged and left out; the rest of the code location still loads.

``recoverMissedSchedules`` (Kestra's server default is ALL):

* ``ALL``: every missed tick runs (Dagster's catch-up; bounded by the instance setting
  ``schedules: max_catchup_runs``, 5 by default);
* ``LAST``: a tick is skipped when a later tick is already due, so only the last missed one runs;
* ``NONE``: as LAST, and the last missed tick is skipped too when it is more than
  ``lateMaximumDelay`` (default 5 minutes) late.

``lateMaximumDelay`` always skips ticks later than that delay.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Union

from dagster import ScheduleDefinition, SensorDefinition
from kestra_dagster.compiler.triggers.common import (
    TAG_TRIGGER,
    TAG_TRIGGER_ID,
    TriggerCompileError,
    _flow_vars,
    _render,
    _status,
    check_inputs,
    instigator_name,
    make_run_request,
)
from kestra_dagster.compiler.triggers.dates import build_dates_sensor
from kestra_dagster.compiler.triggers.flow import (
    build_flow_sensors,
    flow_trigger_evaluator,
    kestra_state_of,
    run_outputs,
    window_bounds,
)
from kestra_dagster.compiler.triggers.git import build_git_sensor
from kestra_dagster.compiler.triggers.http import build_http_sensor
from kestra_dagster.compiler.triggers.local_files import build_local_files_sensor
from kestra_dagster.compiler.triggers.s3 import build_s3_sensor
from kestra_dagster.compiler.triggers.schedule import build_schedule, dagster_cron, schedule_times
from kestra_dagster.compiler.triggers.webhook import build_webhook_sensor, delivery_store
from kestra_dagster.triggers.local_files import LocalFilesTrigger
from kestra_dagster.triggers.models import (
    FlowTrigger,
    GitPolling,
    HttpTrigger,
    S3Trigger,
    Schedule,
    ScheduleOnDates,
    Webhook,
)

if TYPE_CHECKING:
    from kestra_dagster.compiler.definitions import FlowCatalog
    from kestra_dagster.compiler.translator import CompiledFlow

log = logging.getLogger("kestra_dagster")

Definition = Union[ScheduleDefinition, SensorDefinition]


class TriggerTranslator:
    """Flow triggers → Dagster schedules and sensors, one overridable hook per trigger kind."""

    def hooks(self) -> dict[type, Callable[["CompiledFlow", Any, "FlowCatalog"], list[Definition]]]:
        """Trigger model class → hook; a subclass of a listed model uses its nearest base's hook."""
        return {
            Schedule: self.schedule,
            ScheduleOnDates: self.schedule_on_dates,
            Webhook: self.webhook,
            FlowTrigger: self.flow,
            S3Trigger: self.s3,
            HttpTrigger: self.http,
            GitPolling: self.git,
            LocalFilesTrigger: self.local_files,
        }

    def schedule(self, compiled, trigger: Schedule, catalog) -> list[Definition]:
        return [build_schedule(compiled, trigger)]

    def schedule_on_dates(self, compiled, trigger: ScheduleOnDates, catalog) -> list[Definition]:
        return [build_dates_sensor(compiled, trigger)]

    def webhook(self, compiled, trigger: Webhook, catalog) -> list[Definition]:
        return [build_webhook_sensor(compiled, trigger)]

    def flow(self, compiled, trigger: FlowTrigger, catalog) -> list[Definition]:
        return list(build_flow_sensors(compiled, trigger, catalog))

    def s3(self, compiled, trigger: S3Trigger, catalog) -> list[Definition]:
        return [build_s3_sensor(compiled, trigger)]

    def http(self, compiled, trigger: HttpTrigger, catalog) -> list[Definition]:
        return [build_http_sensor(compiled, trigger)]

    def git(self, compiled, trigger: GitPolling, catalog) -> list[Definition]:
        return [build_git_sensor(compiled, trigger)]

    def local_files(self, compiled, trigger: LocalFilesTrigger, catalog) -> list[Definition]:
        return [build_local_files_sensor(compiled, trigger)]

    def hook_for(self, trigger) -> Callable[["CompiledFlow", Any, "FlowCatalog"], list[Definition]] | None:
        own = getattr(trigger, "build_definitions", None)
        if callable(own):  # a plugin trigger translating itself
            return lambda compiled, trig, catalog: list(own(compiled, catalog))
        hooks = self.hooks()
        for cls in type(trigger).__mro__:
            if cls in hooks:
                return hooks[cls]
        legacy = getattr(trigger, "build_sensor", None)
        if callable(legacy):  # plugin triggers written before build_definitions
            return lambda compiled, trig, catalog: [legacy(compiled)]
        return None

    def gate_sensors(self, compiled) -> list[Definition]:
        """The resume sensor of a flow split at Pause/Approval gates (none without a gate)."""
        if not compiled.gated:
            return []
        from kestra_dagster.compiler.triggers.resume import build_resume_sensor

        return [build_resume_sensor(compiled)]

    def build(self, catalog: "FlowCatalog") -> tuple[list[ScheduleDefinition], list[SensorDefinition]]:
        schedules: list[ScheduleDefinition] = []
        sensors: list[SensorDefinition] = []
        for compiled in catalog.flows.values():
            flow = compiled.flow
            for trigger in flow.triggers:
                hook = self.hook_for(trigger)
                if hook is None:
                    log.error("kestra-dagster: trigger %s of flow %s (%s) has no Dagster translation; ignored",
                              trigger.id, flow.uid, trigger.type)
                    continue
                try:
                    for definition in hook(compiled, trigger, catalog):
                        (schedules if isinstance(definition, ScheduleDefinition) else sensors).append(definition)
                except TriggerCompileError as exc:
                    log.error("kestra-dagster: trigger %s of flow %s is not active: %s", trigger.id, flow.uid, exc)
            sensors.extend(self.gate_sensors(compiled))
        return schedules, sensors


def build_triggers(catalog: "FlowCatalog", translator: TriggerTranslator | None = None,
                   ) -> tuple[list[ScheduleDefinition], list[SensorDefinition]]:
    """Schedules and sensors for every flow's ``triggers`` (and the resume sensors of gated flows)."""
    return (translator or TriggerTranslator()).build(catalog)


__all__ = [
    "TAG_TRIGGER", "TAG_TRIGGER_ID", "TriggerCompileError", "TriggerTranslator", "build_triggers",
    "build_schedule", "dagster_cron", "schedule_times", "build_dates_sensor", "build_webhook_sensor",
    "delivery_store", "build_flow_sensors", "flow_trigger_evaluator", "kestra_state_of", "run_outputs",
    "window_bounds", "build_s3_sensor", "build_http_sensor", "build_git_sensor", "build_local_files_sensor",
    "check_inputs", "instigator_name", "make_run_request", "_flow_vars", "_render", "_status",
]
