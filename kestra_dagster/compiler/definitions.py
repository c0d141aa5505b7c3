"""A directory of flow files → one Dagster ``Definitions``.

A broken flow never takes the code location down: it becomes a job named
``invalid__<file>`` whose description lists every problem (file:line, YAML path, message) and
whose single op fails with the same text, so the UI shows it next to the healthy flows. The same
text is logged when the location loads.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING, Callable

from dagster import Definitions, Failure, JobDefinition, OpDefinition, Out, RepositoryDefinition, repository

from kestra_dagster.compiler.translator import CompiledFlow, KestraTranslator, dagster_name
from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import iter_flow_files
from kestra_dagster.model.parse_cache import ParseCache
from kestra_dagster.registry import get_registry

if TYPE_CHECKING:
    from kestra_dagster.compiler.triggers import TriggerTranslator

log = logging.getLogger("kestra_dagster")
DEFAULT_FLOWS_DIR = "flows"
#: The name ``Definitions`` gives its repository; selectors in GraphQL calls and docs use it.
REPOSITORY_NAME = "__repository__"


@dataclass
class FlowCatalog:
    """Everything loaded from a flows directory: compiled flows and the files that failed.

    Flows are parsed and validated at once; their Dagster jobs are built on first use (see
    ``CompiledFlow``). ``jobs`` builds them all; ``job_factories`` keeps them lazy.
    """

    flows: dict[str, CompiledFlow] = field(default_factory=dict)  # by "namespace.id"
    broken: dict[str, str] = field(default_factory=dict)  # file → problem report
    broken_jobs: list[JobDefinition] = field(default_factory=list)
    #: The parse cache's fingerprint of the code that parsed them ("" without a parse cache).
    code_fingerprint: str = ""

    @property
    def jobs(self) -> list[JobDefinition]:
        return [job for compiled in self.flows.values() for job in compiled.jobs] + self.broken_jobs

    def job_factories(self) -> dict[str, Callable[[], JobDefinition]]:
        """Job name → a function that builds the job (what a lazy Dagster repository takes)."""
        factories: dict[str, Callable[[], JobDefinition]] = {}
        for compiled in self.flows.values():
            for i, name in enumerate(compiled.job_names):
                factories[name] = lambda compiled=compiled, i=i: compiled.jobs[i]
        for job in self.broken_jobs:
            factories[job.name] = lambda job=job: job
        return factories

    def by_file(self, path: str | os.PathLike) -> CompiledFlow | None:
        target = Path(path).resolve()
        return next((c for c in self.flows.values() if Path(c.loaded.file).resolve() == target), None)


def flows_dir_from_env() -> Path:
    return Path(os.environ.get("KESTRA_FLOWS_DIR", DEFAULT_FLOWS_DIR))


def load_catalog(paths: list[str | os.PathLike] | None = None, translator: KestraTranslator | None = None,
                 parse_cache: ParseCache | None = None) -> FlowCatalog:
    """Every flow file under ``paths`` parsed (through ``parse_cache``: by default the instance
    home's, so a reload re-parses only changed files) and planned; broken files become reports."""
    translator = translator or KestraTranslator()
    cache = parse_cache if parse_cache is not None else ParseCache.for_instance_home()
    catalog = FlowCatalog(code_fingerprint=cache.fingerprint)
    files_by_uid: dict[str, str] = {}
    for file in iter_flow_files(paths or [flows_dir_from_env()]):
        try:
            flow = cache.load(file)
        except FlowValidationError as exc:
            catalog.broken[str(file)] = "\n".join(i.render() for i in exc.issues)
            continue
        if flow.unsupported:
            catalog.broken[str(file)] = "\n".join(u.as_issue(str(file)).render() for u in flow.unsupported)
            continue
        uid = flow.flow.uid
        if uid in files_by_uid:
            catalog.broken[str(file)] = f"{file}: flow {uid} is already defined in {files_by_uid[uid]}; ids must be unique per namespace"
            continue
        try:
            planned = translator.plan_job(flow, catalog=catalog.flows)
        except (RecursionError, MemoryError, ValueError, TypeError, KeyError) as exc:  # one bad flow, not the location
            catalog.broken[str(file)] = f"{file}: the flow could not be compiled: {type(exc).__name__}: {str(exc)[:500]}"
            continue
        files_by_uid[uid] = flow.file
        catalog.flows[uid] = planned
    taken = {name for compiled in catalog.flows.values() for name in compiled.job_names}
    for file, report in catalog.broken.items():
        log.error("kestra-dagster: flow file %s was not loaded:\n%s", file, report)
        job = _broken_flow_job(file, report, taken)
        taken.add(job.name)
        catalog.broken_jobs.append(job)
    problems = get_registry().problems
    for problem in problems:
        log.error("kestra-dagster plugin problem: %s", problem)
    return catalog


def build_definitions(paths: list[str | os.PathLike] | None = None, translator: KestraTranslator | None = None,
                      trigger_translator: "TriggerTranslator | None" = None) -> Definitions:
    """Every flow as a Dagster job, built now (what ``Definitions`` and components need)."""
    catalog = load_catalog(paths, translator)
    schedules, sensors = build_trigger_definitions(catalog, trigger_translator)
    return Definitions(jobs=catalog.jobs, schedules=schedules, sensors=sensors)


def build_repository(paths: list[str | os.PathLike] | None = None, translator: KestraTranslator | None = None,
                     name: str = REPOSITORY_NAME, trigger_translator: "TriggerTranslator | None" = None,
                     ) -> RepositoryDefinition:
    """Like ``build_definitions``, but each job is built when Dagster first asks for it.

    A run worker asks for one job, so a launched run of a location with a thousand flows starts
    without building the other 999 (seconds per run). The webserver still asks for every job
    when it loads the location. Schedules and sensors are built at once (they are few), and so
    are the jobs they target. Named like the repository ``Definitions`` makes, so selectors
    (``repositoryName: __repository__``) do not change.
    """
    catalog = load_catalog(paths, translator)
    schedules, sensors = build_trigger_definitions(catalog, trigger_translator)
    content = {
        "jobs": catalog.job_factories(),
        "schedules": {s.name: s for s in schedules},
        "sensors": {s.name: s for s in sensors},
    }
    built = repository(name=name)(lambda: content)
    if (translator is None or type(translator) is KestraTranslator) and trigger_translator is None:
        from kestra_dagster.compiler import snapshot_cache

        # (a subclass's code would not be in the snapshot's key)
        snapshot_cache.register(built, catalog, paths or [flows_dir_from_env()])
    return built


def build_trigger_definitions(catalog: FlowCatalog, translator: "TriggerTranslator | None" = None) -> tuple[list, list]:
    """Schedules and sensors for the flows' ``triggers`` (see ``compiler.triggers``).

    Imported unguarded: a missing dependency of a trigger must fail the code location loudly, not
    silently drop every schedule and sensor. Not imported at all when no flow has a trigger or a
    gate (its models and sensors cost a code location ~25 ms at every start).
    """
    if translator is None and not any(c.flow.triggers or c.gated for c in catalog.flows.values()):
        return [], []
    from kestra_dagster.compiler.triggers import build_triggers

    return build_triggers(catalog, translator)


#: What would turn a problem's text into markup (underscores inside words and brackets never do).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*<])")


def report_markdown(report: str) -> str:
    """A load report as Markdown that wraps in the UI: one problem per line, its caret snippet in a code block.

    In a report each problem's headline (``file:line:col: path: message``) starts a line and its
    snippet lines are indented (:meth:`FlowIssue.render`); one long code block would scroll sideways.
    """
    parts: list[str] = []
    for line in report.splitlines():
        if line[:1].isspace() and parts:
            if not parts[-1].startswith("```"):
                parts.append("```\n")
            parts[-1] += line + "\n"
        elif line.strip():
            parts.append("- " + _MARKDOWN_SPECIAL.sub(r"\\\1", line))
    return "\n\n".join(p + "```" if p.startswith("```") else p for p in parts)


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

    description = f"**This flow file could not be loaded.** Fix it and reload the code location.\n\n{report_markdown(report)}"
    return GraphDefinition(name=name, node_defs=[op]).to_job(
        description=description, tags={"kestra/load_error": "true"}, metadata={"kestra/source_file": file},
    )
