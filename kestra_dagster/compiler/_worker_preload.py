"""What a run worker needs before its first step, imported once by the run-worker fork server
(``compiler.run_workers``): Dagster's run execution path and storages, this package's compiler and
every registered task family. Imports only: no thread, connection or file is opened here, so the
fork server stays safe to fork."""

import dagster  # noqa: F401
import dagster._core.execution.api  # noqa: F401
import dagster._core.storage.event_log.sqlite  # noqa: F401
import dagster._core.storage.runs.sqlite  # noqa: F401
import dagster._core.storage.schedules.sqlite  # noqa: F401
import dagster._core.workspace.autodiscovery  # noqa: F401 - finds `defs` in the code location module
import dagster._grpc.impl  # noqa: F401

import kestra_dagster.compiler.definitions  # noqa: F401
from kestra_dagster.registry import get_registry

# Schema models build their validators on first use (defer_build); build them here, once, so
# forked workers do not each pay for it when they parse the flows.
for _entry in get_registry().entries.values():
    _entry.cls.model_rebuild()

