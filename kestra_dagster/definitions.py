"""The code location: every flow under ``$KESTRA_FLOWS_DIR`` (default ``flows/``) as Dagster jobs.

Point ``workspace.yaml`` (or ``dagster dev -m kestra_dagster.definitions``) at this module. The
jobs are built lazily (see ``compiler.definitions.build_repository``): a launched run builds only
its own flow's job. Loaded by a code server, it also hardens that server against database outages
(``server.code_server_fix``) and makes it start run workers from a preloaded fork server
(``compiler.run_workers``; ``KESTRA_RUN_WORKER_START=spawn`` to opt out). A process given only
``$KESTRA_CONFIGURATION`` takes its settings from it here. Other directories, as code locations
of their own: ``kestra_dagster.code_location``.
"""

from kestra_dagster.code_location import code_location

defs = code_location()
