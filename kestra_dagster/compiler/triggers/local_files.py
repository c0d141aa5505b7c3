"""``fs.local.Trigger`` → a sensor polling a local directory (``triggers.local_files``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dagster import SensorDefinition
from kestra_dagster.compiler.triggers.common import _flow_vars, _render, batch_prefix, make_run_request, polling_sensor
from kestra_dagster.triggers.local_files import FilesCursor, LocalFilesTrigger, poll as poll_files, trigger_variables

if TYPE_CHECKING:
    from kestra_dagster.compiler.translator import CompiledFlow


def build_local_files_sensor(compiled: "CompiledFlow", trigger: LocalFilesTrigger) -> SensorDefinition:
    flow = compiled.flow

    def poll(cursor_text, run_exists, storage):
        props = _render({"from": trigger.from_, "regExp": trigger.regExp, "recursive": trigger.recursive,
                         "moveDirectory": trigger.moveDirectory}, _flow_vars(flow))

        def store_file(batch: str, relative: str, path: Path) -> str:
            return storage.put_file_at([*batch_prefix(flow, trigger), batch], path, relative)

        return poll_files(trigger, props, FilesCursor.load(cursor_text), run_exists, store_file)

    def request(run_key: str, files: list[dict]):
        trig = trigger_variables(files)
        inputs = _render(trigger.inputs, {**_flow_vars(flow), "trigger": trig}) if trigger.inputs else {}
        return make_run_request(compiled, trigger, trig, run_key=run_key, inputs=inputs,
                                tags={"kestra/files": str(len(files))})

    return polling_sensor(
        compiled, trigger, poll=poll, request=request, what="no new or changed file",
        description=f"Kestra fs.local.Trigger `{trigger.id}` of `{flow.uid}`: polls {trigger.from_} "
                    f"every {trigger.interval}, action {trigger.action}",
    )
