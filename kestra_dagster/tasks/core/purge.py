"""Kestra's purge tasks: ``execution.PurgeExecutions`` (and the ``storage.Purge`` it replaced),
``log.PurgeLogs`` and ``kv.PurgeKV``, usually run daily from a housekeeping flow.

Executions and logs live in the Dagster instance, so the first two go through the run's
``instance_ops`` (``engine/instance_ops.py``); the KV store is the run's ``kv`` backend. A
namespace property that renders empty or malformed fails rather than widening the purge to every
namespace; executions still running, and the purging one, are never touched.
"""

from __future__ import annotations

import fnmatch
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from kestra_dagster.engine.instance_ops import ExecutionFilter, checked_namespace, parse_date, required
from kestra_dagster.errors import TaskFailed
from kestra_dagster.tasks.base import RunnableTask
from kestra_dagster.tasks.core.log import LEVELS

#: Kestra's ``State.Type`` values.
ExecutionState = Literal["CREATED", "SUBMITTED", "RUNNING", "PAUSED", "RESTARTED", "KILLING", "SUCCESS", "WARNING",
                         "FAILED", "KILLED", "CANCELLED", "QUEUED", "RETRYING", "RETRIED", "SKIPPED", "BREAKPOINT",
                         "RESUBMITTED"]


class _PurgeTask(RunnableTask):
    namespace: str | None = None
    flowId: str | None = None
    startDate: str | None = None
    endDate: str

    @model_validator(mode="after")
    def _flow_needs_namespace(self):
        if self.flowId is not None and self.namespace is None:
            raise ValueError("flowId needs namespace: set the namespace of the flow to purge")
        return self

    def _filter(self, ctx, states: tuple[str, ...] | None = None) -> ExecutionFilter:
        flow_id = ctx.render_str(self.flowId, prop="flowId") if self.flowId is not None else None
        which = ExecutionFilter(
            namespace=checked_namespace(ctx.render_str(self.namespace, prop="namespace") if self.namespace is not None
                                        else None, "namespace"),
            flow_id=flow_id.strip() if flow_id is not None else None,
            start=parse_date(ctx.render_str(self.startDate, prop="startDate"), "startDate"),
            end=parse_date(ctx.render_str(self.endDate, prop="endDate"), "endDate"),
            states=states)
        if which.end is None:
            raise TaskFailed("property 'endDate' rendered empty: purges need an end date")
        if which.flow_id == "":
            raise TaskFailed("property 'flowId' rendered empty; leave it out to purge every flow of the namespace")
        return which


class PurgeExecutions(_PurgeTask):
    """Delete finished executions started between ``startDate`` and ``endDate`` (their runs, log
    lines, metrics and internal-storage files), for every flow, a namespace (and its children) or one flow."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.execution.PurgeExecutions"
    kestra_aliases: ClassVar[tuple[str, ...]] = ("io.kestra.plugin.core.storage.Purge", "io.kestra.core.tasks.storages.Purge")

    states: list[ExecutionState] | None = None
    purgeExecution: bool = True
    purgeLog: bool = True
    purgeMetric: bool = True
    purgeStorage: bool = True

    def run(self, ctx):
        ops = required(ctx.instance_ops, self.kestra_type)
        which = self._filter(ctx, tuple(self.states) if self.states else None)
        result = ops.purge_executions(which, executions=self.purgeExecution, logs=self.purgeLog,
                                      metrics=self.purgeMetric, storage=self.purgeStorage)
        ctx.logger.info(f"purged {result.executions} executions, {result.logs} log lines, {result.metrics} metrics, "
                        f"{result.storages} files" + (f"; {result.skipped} executions still running or this one were left"
                                                      if result.skipped else ""))
        return {"executionsCount": result.executions, "logsCount": result.logs,
                "storagesCount": result.storages, "metricsCount": result.metrics}


class PurgeLogs(_PurgeTask):
    """Delete the log lines logged between ``startDate`` and ``endDate`` (of ``logLevels`` only, when
    set) by every flow, a namespace (and its children) or one flow; step history stays."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.log.PurgeLogs"

    logLevels: list[LEVELS] | None = None

    def run(self, ctx):
        ops = required(ctx.instance_ops, self.kestra_type)
        count = ops.purge_logs(self._filter(ctx), levels=tuple(self.logLevels) if self.logLevels else None)
        ctx.logger.info(f"purged {count} log lines")
        return {"count": count}


class KeyBehavior(BaseModel):
    """``behavior: {type: key, expiredOnly: …}``: purge whole keys (all, or only expired ones)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["key", "KEY"] = "key"
    expiredOnly: bool = True


class PurgeKV(RunnableTask):
    """Delete keys of the KV store: expired ones by default, in ``namespaces`` (or those matching
    ``namespacePattern``, or every namespace), with their child namespaces unless told otherwise,
    optionally only keys matching the glob ``keyPattern``."""

    kestra_type: ClassVar[str] = "io.kestra.plugin.core.kv.PurgeKV"

    namespaces: list[str] | str | None = None
    namespacePattern: str | None = None
    keyPattern: str | None = None
    includeChildNamespaces: bool = True
    behavior: KeyBehavior = KeyBehavior()
    expiredOnly: bool | None = None  # deprecated in Kestra 1.1: overrides behavior when set

    @model_validator(mode="before")
    @classmethod
    def _one_version_per_key(cls, data: Any) -> Any:
        behavior = data.get("behavior") if isinstance(data, dict) else None
        if isinstance(behavior, dict) and str(behavior.get("type", "key")).lower() == "version":
            raise ValueError("behavior type 'version' purges old versions of keys, and this KV store keeps one "
                             "version per key: use behavior: {type: key, expiredOnly: true}")
        return data

    @model_validator(mode="after")
    def _one_selector(self):
        if self.namespaces is not None and self.namespacePattern is not None:
            raise ValueError("set namespaces or namespacePattern, not both")
        return self

    def _namespaces(self, ctx) -> list[str]:
        known = ctx.kv.namespaces()
        if self.namespacePattern is not None:
            pattern = ctx.render_str(self.namespacePattern, prop="namespacePattern")
            chosen = [ns for ns in known if fnmatch.fnmatchcase(ns, pattern)]
        elif self.namespaces is not None:
            given = ctx.render(self.namespaces, prop="namespaces")
            given = [given] if isinstance(given, str) else list(given)
            roots = [checked_namespace(str(ns), "namespaces") for ns in given]
            chosen = [ns for ns in known if any(ns == root or (self.includeChildNamespaces and ns.startswith(root + "."))
                                                for root in roots)]
        else:
            return known
        if not self.includeChildNamespaces or self.namespaces is not None:
            return chosen
        return [ns for ns in known if any(ns == root or ns.startswith(root + ".") for root in chosen)]

    def run(self, ctx):
        expired_only = self.expiredOnly if self.expiredOnly is not None else self.behavior.expiredOnly
        pattern = ctx.render_str(self.keyPattern, prop="keyPattern") if self.keyPattern is not None else None
        matches = (lambda key: fnmatch.fnmatchcase(key, pattern)) if pattern else None
        namespaces = self._namespaces(ctx)
        ctx.logger.info(f"purging {len(namespaces)} namespaces: {namespaces}")
        size = sum(ctx.kv.purge(ns, expired_only=expired_only, key_filter=matches) for ns in namespaces)
        ctx.logger.info(f"purged {size} keys")
        return {"size": size}
