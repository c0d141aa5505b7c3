"""``Webhook`` (and the Git webhooks) → a sensor over the delivery store the intake writes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster import SensorDefinition, SkipReason, sensor

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
    from kestra_dagster.triggers.store import TAG_DELIVERY

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
                inputs = _render(trigger.inputs, {**_flow_vars(flow), "trigger": trig_vars}) if trigger.inputs else {}
                request = make_run_request(compiled, trigger, trig_vars, run_key=delivery.delivery_id, inputs=inputs,
                                           tags={TAG_DELIVERY: delivery.delivery_id, TAG_TRIGGER: "webhook"})
            except Exception as exc:  # noqa: BLE001 - one bad delivery must not block the others
                context.log.error(f"delivery {delivery.delivery_id} rejected: {exc}")
                store.mark_rejected(delivery.delivery_id, str(exc))
                continue
            requests.append(request)
        if not requests:
            return SkipReason(f"{len(launched)} deliveries already have their run")
        return requests

    return _webhook
