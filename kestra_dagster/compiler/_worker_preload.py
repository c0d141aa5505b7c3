"""What a run worker needs before its first step, imported once by the run-worker fork server
(``compiler.run_workers``): Dagster's run execution path and storages, this package's compiler and
every registered task family. Imports only: no thread, connection or file is opened here, so the
fork server stays safe to fork."""

import dagster  # noqa: F401

import kestra_dagster.compiler.definitions  # noqa: F401
from kestra_dagster.compat import preload_run_worker_modules
from kestra_dagster.registry import get_registry

preload_run_worker_modules()

# Schema models build their validators on first use (defer_build); build them here, once, so
# forked workers do not each pay for it when they parse the flows.
for _entry in get_registry().entries.values():
    _entry.cls.model_rebuild()

