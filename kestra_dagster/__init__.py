"""kestra-dagster: Kestra-style YAML flows compiled into Dagster jobs.

The public API, importable from the package itself (names resolve on first use, so
``import kestra_dagster`` stays cheap and does not import Dagster):

Loading flows into Dagster
    :func:`load_flows` (a directory or files → ``dagster.Definitions``, for ``Definitions.merge``),
    :func:`build_definitions` (the same, with a custom translator), :func:`build_repository`
    (lazy jobs: a run worker builds only its own flow's job), :func:`code_location` (a lazy
    repository plus what a code-location process needs: one per directory when flows are split
    across code locations), :class:`KestraFlowComponent` (the
    Dagster component for ``defs.yaml``), :func:`load_flow_file` (one file → the validated model,
    raising :class:`FlowValidationError` with file, line and YAML path).

Customising the translation
    :class:`KestraTranslator` (flow → jobs and ops; subclass it and pass it to
    ``build_definitions``), :class:`TriggerTranslator` (flow triggers → schedules and sensors, one
    hook per trigger kind), :class:`CompiledFlow` (what a translator produces for one flow).

Writing task families (plugins)
    :class:`RunnableTask` (a task that runs: implement ``run(ctx)``), :class:`FlowableTask` (a
    task that runs other tasks), :class:`AbstractExecScript` (script-like tasks: working
    directory, ``inputFiles``, ``namespaceFiles``, ``outputFiles``, Process/Docker runners),
    :class:`TaskContext` (what ``run`` receives), :class:`TaskFailed`/:class:`TaskKilled`, the
    toolkit module :mod:`kestra_dagster.sdk` (processes, containers, property values, masking), and
    :func:`get_registry` (every registered task and trigger type). docs/plugins.md has a walk-through;
    docs/architecture.md shows where each kind of extension goes.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_flows": "kestra_dagster.components",
    "KestraFlowComponent": "kestra_dagster.components",
    "build_definitions": "kestra_dagster.compiler.definitions",
    "build_repository": "kestra_dagster.compiler.definitions",
    "code_location": "kestra_dagster.code_location",
    "load_flow_file": "kestra_dagster.model.loader",
    "FlowValidationError": "kestra_dagster.errors",
    "KestraTranslator": "kestra_dagster.compiler.translator",
    "CompiledFlow": "kestra_dagster.compiler.translator",
    "TriggerTranslator": "kestra_dagster.compiler.triggers",
    "RunnableTask": "kestra_dagster.tasks.base",
    "FlowableTask": "kestra_dagster.tasks.base",
    "AbstractExecScript": "kestra_dagster.tasks.scripts._exec",
    "TaskContext": "kestra_dagster.engine.context",
    "TaskFailed": "kestra_dagster.errors",
    "TaskKilled": "kestra_dagster.errors",
    "get_registry": "kestra_dagster.registry",
}
_SUBMODULES = {"sdk", "testing"}

__all__ = sorted([*_EXPORTS, "sdk"])


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kestra_dagster' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)
