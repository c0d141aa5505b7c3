"""The code location: every flow under ``$KESTRA_FLOWS_DIR`` (default ``flows/``) as Dagster jobs.

Point ``workspace.yaml`` (or ``dagster dev -m kestra_dagster.definitions``) at this module. The
jobs are built lazily (see ``compiler.definitions.build_repository``): a launched run builds only
its own flow's job. Loaded by a code server, it also hardens that server against database outages
(``server.code_server_fix``) and makes it start run workers from a preloaded fork server
(``compiler.run_workers``; ``KESTRA_RUN_WORKER_START=spawn`` to opt out). A process given only
``$KESTRA_CONFIGURATION`` takes its settings from it here.
"""

from kestra_dagster.compiler.definitions import build_repository
from kestra_dagster.config import export_process_env
from kestra_dagster.compiler.run_workers import start_runs_from_forkserver
from kestra_dagster.server import code_server_fix

export_process_env()  # a pod started with only $KESTRA_CONFIGURATION follows it like `server` does
code_server_fix.install()
start_runs_from_forkserver()
defs = build_repository()
