"""The code location: every flow under ``$KESTRA_FLOWS_DIR`` (default ``flows/``) as Dagster jobs.

Point ``workspace.yaml`` (or ``dagster dev -m kestra_dagster.definitions``) at this module.
"""

from kestra_dagster.compiler.definitions import build_definitions

defs = build_definitions()
