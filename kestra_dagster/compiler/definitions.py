"""A directory of flow files → one Dagster ``Definitions``.

A broken flow never takes the code location down: it becomes a job named
``invalid__<file>`` whose description lists every problem (file:line, YAML path, message) and
whose single op fails with the same text, so the UI shows it next to the healthy flows. The same
text is logged when the location loads.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from dagster import Definitions, Failure, JobDefinition, OpDefinition, Out

from kestra_dagster.compiler.translator import CompiledFlow, KestraTranslator, dagster_name
from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import LoadedFlow, iter_flow_files, load_flow_file
from kestra_dagster.registry import get_registry

log = logging.getLogger("kestra_dagster")
DEFAULT_FLOWS_DIR = "flows"


@dataclass
class FlowCatalog:
    """Everything loaded from a flows directory: compiled flows and the files that failed."""

    flows: dict[str, CompiledFlow] = field(default_factory=dict)  # by "namespace.id"
    broken: dict[str, str] = field(default_factory=dict)  # file → problem report
    jobs: list[JobDefinition] = field(default_factory=list)

    def by_file(self, path: str | os.PathLike) -> CompiledFlow | None:
        target = Path(path).resolve()
        return next((c for c in self.flows.values() if Path(c.loaded.file).resolve() == target), None)


def flows_dir_from_env() -> Path:
    return Path(os.environ.get("KESTRA_FLOWS_DIR", DEFAULT_FLOWS_DIR))


def load_catalog(paths: list[str | os.PathLike] | None = None, translator: KestraTranslator | None = None) -> FlowCatalog:
    translator = translator or KestraTranslator()
    catalog = FlowCatalog()
    loaded: list[LoadedFlow] = []
    for file in iter_flow_files(paths or [flows_dir_from_env()]):
        try:
            flow = load_flow_file(file)
        except FlowValidationError as exc:
            catalog.broken[str(file)] = "\n".join(i.render() for i in exc.issues)
            continue
        if flow.unsupported:
            catalog.broken[str(file)] = "\n".join(
                f"{file}:{u.line}: {u.path}: {u.message()}" for u in flow.unsupported
            )
            continue
        if flow.flow.uid in {f.flow.uid for f in loaded}:
            other = next(f.file for f in loaded if f.flow.uid == flow.flow.uid)
            catalog.broken[str(file)] = f"{file}: flow {flow.flow.uid} is already defined in {other}; ids must be unique per namespace"
            continue
        loaded.append(flow)
    shared: dict[str, CompiledFlow] = catalog.flows
    for flow in loaded:
        compiled = translator.build_job(flow, catalog=shared)
        shared[flow.flow.uid] = compiled
        catalog.jobs.extend(compiled.jobs)
    for file, report in catalog.broken.items():
        log.error("kestra-dagster: flow file %s was not loaded:\n%s", file, report)
        catalog.jobs.append(_broken_flow_job(file, report, {j.name for j in catalog.jobs}))
    problems = get_registry().problems
    for problem in problems:
        log.error("kestra-dagster plugin problem: %s", problem)
    return catalog


def build_definitions(paths: list[str | os.PathLike] | None = None, translator: KestraTranslator | None = None) -> Definitions:
    catalog = load_catalog(paths, translator)
    schedules, sensors = build_trigger_definitions(catalog)
    return Definitions(jobs=catalog.jobs, schedules=schedules, sensors=sensors)


def build_trigger_definitions(catalog: FlowCatalog) -> tuple[list, list]:
    """Schedules and sensors for the flows' ``triggers`` (see ``compiler.triggers``)."""
    try:
        from kestra_dagster.compiler.triggers import build_triggers
    except ImportError:  # the triggers module is optional while it is being built
        return [], []
    return build_triggers(catalog)


def _broken_flow_job(file: str, report: str, taken: set[str]) -> JobDefinition:
    name = dagster_name(f"invalid__{Path(file).stem}")
    while name in taken:
        name += "_"

    def fail(context, inputs):
        raise Failure(description=f"This flow file could not be loaded:\n{report}")
        yield  # pragma: no cover

    op = OpDefinition(name=f"{name}__load_error", compute_fn=fail, outs={"result": Out(is_required=False)},
                      description="Fails with the flow's validation errors")
    from dagster import GraphDefinition

    description = f"**This flow file could not be loaded.** Fix it and reload the code location.\n\n```\n{report}\n```"
    return GraphDefinition(name=name, node_defs=[op]).to_job(
        description=description, tags={"kestra/load_error": "true"}, metadata={"kestra/source_file": file},
    )
