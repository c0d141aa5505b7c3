"""The code location: every flow under ``$KESTRA_FLOWS_DIR`` (default ``flows/``) as Dagster jobs.

Point ``workspace.yaml`` (or ``dagster dev -m kestra_dagster.definitions``) at this module.
"""

from kestra_dagster.compiler.definitions import build_definitions
from kestra_dagster.server import code_server_fix

code_server_fix.install()  # this module is loaded inside the code server: harden it there
defs = build_definitions()
