"""``aws.s3.Trigger`` → a sensor polling the bucket (``triggers.s3_poll``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import SensorDefinition

from kestra_dagster.triggers.models import S3Trigger
from kestra_dagster.compiler.triggers.common import _flow_vars, _render, batch_prefix, make_run_request, polling_sensor

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow


# ============================================================================ S3


def build_s3_sensor(compiled: "CompiledFlow", trigger: S3Trigger) -> SensorDefinition:
    from kestra_dagster.triggers import s3_poll

    flow = compiled.flow
    props_fields = ("accessKeyId", "secretKeyId", "sessionToken", "region", "endpointOverride", "forcePathStyle",
                    "compatibilityMode", "bucket", "prefix", "delimiter", "regexp")

    def poll(cursor_text, run_exists, storage):
        props = _render({k: getattr(trigger, k) for k in props_fields}, _flow_vars(flow))
        props["moveTo"] = _render(trigger.moveTo.model_dump(), _flow_vars(flow)) if trigger.moveTo else None

        def store_object(batch: str, key: str, data: bytes) -> str:
            return storage.put_bytes_at([*batch_prefix(flow, trigger), batch], data, key)

        cursor = s3_poll.S3Cursor.load(cursor_text)
        return s3_poll.poll(trigger, props, cursor, s3_poll.make_client(props), run_exists, store_object)

    def request(run_key: str, objects: list[dict]):
        trig = {"objects": [{k: o[k] for k in ("key", "uri", "size", "lastModified", "eTag", "bucket")}
                            for o in objects]}
        return make_run_request(compiled, trigger, trig, run_key=run_key, tags={"kestra/s3_objects": str(len(objects))})

    return polling_sensor(
        compiled, trigger, poll=poll, request=request, what="no new object",
        description=f"Kestra aws.s3.Trigger `{trigger.id}` of `{flow.uid}`: polls s3://{trigger.bucket}/"
                    f"{trigger.prefix or ''} every {trigger.interval}, action {trigger.action}",
    )
