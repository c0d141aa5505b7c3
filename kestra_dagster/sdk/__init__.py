"""The plugin SDK: the toolkit task families share, ours and third-party ones alike.

A task family is a package listed under the ``kestra_dagster.plugins`` entry points whose
``TASKS`` are :class:`RunnableTask` subclasses (see docs/plugins.md). Inside ``run(ctx)`` a task
reaches Kestra's world through the :class:`TaskContext` and uses this toolkit for the rest:

- **process execution and log streaming**: :func:`run_process` runs a command in its own process
  group, streams stdout/stderr line by line to a :class:`LineHandler` (which turns Kestra's
  ``::{"outputs": …}::`` lines into outputs and logs the others, masked; :class:`ToolLog` logs a
  tool's own output and keeps its tail for the error message), honours the task's
  timeout and cancellation and kills the whole group;
- **containers**: :func:`run_container` (pull policy, labels, log streaming, guaranteed removal),
  :func:`docker_client`, :class:`Credentials`/:func:`render_credentials`;
- **property values as Kestra writes them**: :func:`as_text`, :func:`as_list` (a list written as
  one string or as JSON), :func:`glob_regex` (Java-style globs for include/exclude);
- **transport retries**: :class:`Backoff` (exponential, jitter, ``Retry-After``), :func:`is_transient`
  (no response, 429, 5xx), one policy for every client;
- **secrets-aware logging**: :func:`mask_secrets` (``ctx.mask`` applies it with the run's
  revealed secrets), and the errors a task raises (:class:`TaskFailed`, :class:`TaskKilled`).

Working directories and output files of script-like tasks come with the base class
``kestra_dagster.AbstractExecScript`` (``inputFiles``, ``namespaceFiles``, ``outputFiles``).

Names resolve on first use, so ``import kestra_dagster.sdk`` costs nothing until a name is read.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # task contract
    "RunnableTask": "kestra_dagster.tasks.base",
    "TaskContext": "kestra_dagster.engine.context",
    "TaskFailed": "kestra_dagster.errors",
    "TaskKilled": "kestra_dagster.errors",
    "mask_secrets": "kestra_dagster.engine.context",
    # processes
    "run_process": "kestra_dagster.sdk.process",
    "LineHandler": "kestra_dagster.sdk.process",
    "kill_group": "kestra_dagster.sdk.process",
    "ToolLog": "kestra_dagster.sdk.process",
    # containers
    "ContainerSpec": "kestra_dagster.sdk.containers",
    "run_container": "kestra_dagster.sdk.containers",
    "pull_image": "kestra_dagster.sdk.containers",
    "docker_client": "kestra_dagster.sdk.docker",
    "Credentials": "kestra_dagster.sdk.docker",
    "render_credentials": "kestra_dagster.sdk.docker",
    # transport retries
    "Backoff": "kestra_dagster.transport",
    "is_transient": "kestra_dagster.transport",
    "retry_after_seconds": "kestra_dagster.transport",
    # property values
    "as_text": "kestra_dagster.sdk.values",
    "as_list": "kestra_dagster.sdk.values",
    "glob_regex": "kestra_dagster.sdk.values",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kestra_dagster.sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
