"""Kestra's old type names → today's names.

Kestra renamed its core packages (``io.kestra.core.tasks.debugs.Return`` became
``io.kestra.plugin.core.debug.Return``) and moved Docker tasks under ``.cli``. Most renames follow
a rule; the irregular ones are listed. Flows written against any Kestra version load alike.
"""

from __future__ import annotations

import re
from functools import lru_cache

_IRREGULAR = {
    "io.kestra.core.tasks.executions.Counts": "io.kestra.plugin.core.execution.Count",
    "io.kestra.core.tasks.storages.Purge": "io.kestra.plugin.core.execution.PurgeExecutions",
    "io.kestra.plugin.core.storage.Purge": "io.kestra.plugin.core.execution.PurgeExecutions",
    "io.kestra.core.tasks.flows.Flow": "io.kestra.plugin.core.flow.Subflow",
    "io.kestra.core.tasks.flows.Worker": "io.kestra.plugin.core.flow.WorkingDirectory",
    "io.kestra.core.tasks.storages.PurgeExecution": "io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles",
    "io.kestra.plugin.core.storage.PurgeExecution": "io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles",
    "io.kestra.core.models.conditions.types.VariableCondition": "io.kestra.plugin.core.condition.Expression",
    "io.kestra.plugin.core.condition.ExpressionCondition": "io.kestra.plugin.core.condition.Expression",
    "io.kestra.core.models.conditions.types.FlowCondition": "io.kestra.plugin.core.condition.FlowCondition",
    "io.kestra.core.models.conditions.types.FlowNamespaceCondition": "io.kestra.plugin.core.condition.FlowNamespaceCondition",
    "io.kestra.core.models.conditions.types.MultipleCondition": "io.kestra.plugin.core.condition.MultipleCondition",
    "io.kestra.core.tasks.trigger.Toggle": "io.kestra.plugin.core.trigger.Toggle",
    # Current names that keep their "Condition" suffix (the suffix rule below must not strip it).
    "io.kestra.plugin.core.condition.FlowCondition": "io.kestra.plugin.core.condition.FlowCondition",
    "io.kestra.plugin.core.condition.FlowNamespaceCondition": "io.kestra.plugin.core.condition.FlowNamespaceCondition",
    "io.kestra.plugin.core.condition.MultipleCondition": "io.kestra.plugin.core.condition.MultipleCondition",
}

# (pattern, replacement) applied in order; the first that matches wins.
_RULES = [
    # io.kestra.core.tasks.debugs.Return -> io.kestra.plugin.core.debug.Return (package made singular)
    (re.compile(r"^io\.kestra\.core\.tasks\.(\w+?)s?\.(\w+)$"), r"io.kestra.plugin.core.\1.\2"),
    (re.compile(r"^io\.kestra\.core\.models\.triggers\.types\.(\w+)$"), r"io.kestra.plugin.core.trigger.\1"),
    (re.compile(r"^io\.kestra\.core\.models\.conditions\.types\.(\w+?)Condition$"), r"io.kestra.plugin.core.condition.\1"),
    (re.compile(r"^io\.kestra\.plugin\.core\.condition\.(\w+?)Condition$"), r"io.kestra.plugin.core.condition.\1"),
    (re.compile(r"^io\.kestra\.plugin\.fs\.http\.(\w+)$"), r"io.kestra.plugin.core.http.\1"),
    (re.compile(r"^io\.kestra\.plugin\.docker\.(Build|Push|Tag|Pull|Rm|Run|Compose|Stop|Prune|ImageLs)$"), r"io.kestra.plugin.docker.cli.\1"),
]


@lru_cache(maxsize=4096)
def canonical_type(type_name: str) -> str:
    """The current Kestra name for ``type_name`` (itself when it is already current)."""
    if type_name in _IRREGULAR:
        return _IRREGULAR[type_name]
    for pattern, replacement in _RULES:
        if pattern.match(type_name):
            return pattern.sub(replacement, type_name)
    return type_name
