"""The code location: every flow under ``$KESTRA_FLOWS_DIR`` (default ``flows/``) as Dagster jobs.

Point ``workspace.yaml`` (or ``dagster dev -m kestra_dagster.definitions``) at this module. The
jobs are built lazily (see ``compiler.definitions.build_repository``): a launched run builds only
its own flow's job.
"""

from kestra_dagster.compiler.definitions import build_repository

defs = build_repository()
