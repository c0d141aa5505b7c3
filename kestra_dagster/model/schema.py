"""JSON Schema for flow files, generated from the models and every registered plugin type.

Editors with a YAML language server use it to complete and check flows
(``# yaml-language-server: $schema=flow.schema.json``).
"""

from __future__ import annotations

import re
from typing import Any

from kestra_dagster.model.flow import Flow
from kestra_dagster.registry import Registry, get_registry

_REF = "#/$defs/{model}"


def flow_json_schema(registry: Registry | None = None) -> dict[str, Any]:
    registry = registry or get_registry()
    schema = Flow.model_json_schema(by_alias=True, ref_template=_REF)
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    task_refs, trigger_refs = [], []
    for entry in sorted(registry.entries.values(), key=lambda e: e.type):
        if entry.kind not in ("task", "trigger"):  # conditions stay plain maps in the flow schema
            continue
        sub = entry.cls.model_json_schema(by_alias=True, ref_template=_REF)
        for name, definition in sub.pop("$defs", {}).items():
            defs.setdefault(name, definition)
        sub.setdefault("properties", {})["type"] = {"enum": [entry.type, *entry.aliases]}
        sub["description"] = entry.summary or sub.get("description", "")
        key = re.sub(r"[^A-Za-z0-9]", "_", entry.type)
        defs[key] = sub
        (task_refs if entry.kind == "task" else trigger_refs).append({"$ref": f"#/$defs/{key}"})
    defs["Task"] = {"anyOf": task_refs, "description": "A task: its `type` selects the properties"}
    if trigger_refs:
        defs["Trigger"] = {"anyOf": trigger_refs, "description": "A trigger: its `type` selects the properties"}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Kestra flow (kestra-dagster)"
    schema.setdefault("properties", {})["extend"] = {"description": "Blueprint metadata (ignored)"}
    return schema
