"""``Webhook`` (and the Git webhooks) → a sensor over the delivery store the intake writes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster import RunRequest, SensorDefinition, SkipReason, sensor

from kestra_dagster.triggers.models import Webhook
from kestra_dagster.compiler.triggers.common import (
    TAG_TRIGGER,
    WEBHOOK_SENSOR_INTERVAL,
    instigator_name,
    make_run_request,
    _render,
    _flow_vars,
    _status,
)

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow


# ============================================================================ Webhook


_stores: dict[int, Any] = {}


def delivery_store(instance):
    from kestra_dagster.triggers.store import DeliveryStore

    store = _stores.get(id(instance))
    if store is None or store.instance is not instance:
        store = _stores[id(instance)] = DeliveryStore(instance)
    return store


def build_webhook_sensor(compiled: "CompiledFlow", trigger: Webhook) -> SensorDefinition:
    flow = compiled.flow

    @sensor(name=instigator_name(compiled, trigger, "__webhook"), job=compiled.job,
            minimum_interval_seconds=WEBHOOK_SENSOR_INTERVAL, default_status=_status(trigger),
            description=f"Runs `{flow.uid}` for each stored delivery of its webhook `{trigger.id}` "
                        f"(POST /api/v1/executions/webhook/{flow.namespace}/{flow.id}/<key>)")
    def _webhook(context):
        store = delivery_store(context.instance)
        pending = store.pending(flow.uid, trigger.id)
        if not pending:
            return SkipReason("no pending delivery")
        launched = store.runs_for(d.delivery_id for d in pending)
        store.mark_launched(launched)
        requests = []
        for delivery in pending:
            if delivery.delivery_id in launched:
                continue
            trig = delivery.payload.get("trigger") or {}
            trig_vars = {k: v for k, v in trig.items() if k != "method"}
            try:
                request = _delivery_request(compiled, trigger, delivery.delivery_id, trig_vars)
            except Exception as exc:  # noqa: BLE001 - one bad delivery (RecursionError included) must not block the others
                context.log.error(f"delivery {delivery.delivery_id} rejected: {exc}")
                store.mark_rejected(delivery.delivery_id, str(exc))
                continue
            requests.append(request)
        if not requests:
            return SkipReason(f"{len(launched)} deliveries already have their run")
        return requests

    return _webhook


def _delivery_request(compiled: "CompiledFlow", trigger: Webhook, delivery_id: str, trig_vars: dict) -> RunRequest:
    """The run request of one stored delivery, checked here so that a delivery that cannot become a
    run (too deep for Dagster to serialise, inputs that do not render) fails alone instead of failing
    the tick. The depth is the one thing a JSON payload can break serialisation with; checking it
    costs microseconds, where serialising every request here would cost ~1.5 ms per delivery."""
    from kestra_dagster.triggers.json_limits import DEFAULT_MAX_JSON_DEPTH, value_depth
    from kestra_dagster.triggers.store import TAG_DELIVERY

    limit = DEFAULT_MAX_JSON_DEPTH + 2  # the trigger map and its body/headers wrap the payload
    if value_depth(trig_vars, limit) > limit:
        raise ValueError(f"the delivery is nested more than {DEFAULT_MAX_JSON_DEPTH} levels deep; it cannot become a run")
    inputs = _render(trigger.inputs, {**_flow_vars(compiled.flow), "trigger": trig_vars}) if trigger.inputs else {}
    return make_run_request(compiled, trigger, trig_vars, run_key=delivery_id, inputs=inputs,
                            tags={TAG_DELIVERY: delivery_id, TAG_TRIGGER: "webhook"})
