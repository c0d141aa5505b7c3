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

get_registry()
