"""``http.Trigger`` → a sensor polling a URL; a run whenever ``responseCondition`` holds."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from dagster import SensorDefinition, SkipReason, sensor

from kestra_dagster.model.common import parse_duration
from kestra_dagster.triggers.models import HttpTrigger
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


# ============================================================================ HTTP polling


def build_http_sensor(compiled: "CompiledFlow", trigger: HttpTrigger) -> SensorDefinition:
    """``http.Trigger``: one request per interval; a run whenever ``responseCondition`` is true."""
    import httpx

    from kestra_dagster.expressions import is_truthy

    flow = compiled.flow
    interval = max(1, int(parse_duration(trigger.interval).total_seconds()))

    @sensor(name=instigator_name(compiled, trigger), job=compiled.job, minimum_interval_seconds=interval,
            default_status=_status(trigger),
            description=f"Polls {trigger.method} {trigger.uri} every {trigger.interval} for `{flow.uid}`")
    def _http(context):
        variables = _flow_vars(flow)
        props = _render({"uri": trigger.uri, "body": trigger.body, "headers": trigger.headers,
                         "formData": trigger.formData}, variables)
        headers = {str(k): str(v) for k, v in (props["headers"] or {}).items()}
        if trigger.contentType:
            headers.setdefault("Content-Type", trigger.contentType)
        timeout = parse_duration((trigger.options or {}).get("readTimeout", "PT30S")).total_seconds()
        try:
            response = httpx.request(trigger.method, props["uri"], headers=headers, content=props["body"],
                                     data=props["formData"], timeout=timeout)
        except httpx.HTTPError as exc:
            return SkipReason(f"request failed: {type(exc).__name__}")
        resp = {"statusCode": response.status_code, "body": response.text,
                "headers": {k: response.headers.get_list(k) for k in response.headers.keys()}}
        if not is_truthy(_render(trigger.responseCondition, {**variables, "response": resp})):
            return SkipReason(f"responseCondition is false (HTTP {response.status_code})")
        trig = {"uri": props["uri"], "code": response.status_code, "headers": resp["headers"],
                "body": "(encrypted: not kept with the run)" if trigger.encryptBody else response.text}
        now = datetime.now(timezone.utc)
        if not _conditions_hold(trigger, now, {**variables, "trigger": trig}):
            return SkipReason(f"conditions of {trigger.id} are false")
        inputs = _render(trigger.inputs, {**variables, "trigger": trig}) if trigger.inputs else {}
        return make_run_request(compiled, trigger, trig, run_key=f"{trigger.id}:{now.isoformat()}", inputs=inputs)

    return _http
