"""One code location of flows: what ``kestra_dagster.definitions`` exposes for ``$KESTRA_FLOWS_DIR``,
for any directories.

Flows split across several code locations (one per namespace directory, when one location grows
too large to load quickly) each get a two-line module::

    from pathlib import Path
    from kestra_dagster import code_location
    defs = code_location([Path(__file__).parent / "flows" / "team-a"])

and one ``python_file`` entry each in ``workspace.yaml`` (README: "Splitting flows across code
locations").
"""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from dagster import RepositoryDefinition


def code_location(paths: Sequence[str | os.PathLike] | None = None, name: str | None = None) -> "RepositoryDefinition":
    """The repository of one code location over ``paths`` (default ``$KESTRA_FLOWS_DIR``), with
    what every code location of ours needs in its process: settings from ``$KESTRA_CONFIGURATION``,
    the hardened code server, its repository snapshot cached across reloads
    (``compiler.snapshot_cache``) and run workers started from a fork server.

    Named ``__repository__`` unless ``name`` is given (what ``Definitions`` would call it)."""
    import dagster  # noqa: F401 - imported before the freeze below

    # Dagster's modules (and the caller's) live as long as the process: moved out of the cyclic
    # collector's reach, the full collection the load triggers need not walk them (~35 ms per start).
    gc.freeze()
    from kestra_dagster.compiler import snapshot_cache
    from kestra_dagster.compiler.definitions import REPOSITORY_NAME, build_repository
    from kestra_dagster.compiler.run_workers import start_runs_from_forkserver
    from kestra_dagster.server import code_server_fix

    if os.environ.get("KESTRA_CONFIGURATION", "").strip() or os.environ.get("KESTRA_CONFIG_FILE"):
        # a pod started with only $KESTRA_CONFIGURATION follows it like `server` does (the settings
        # models are imported only then: ~20 ms of every start otherwise)
        from kestra_dagster.config import export_process_env

        export_process_env()
    code_server_fix.install()
    snapshot_cache.install()
    start_runs_from_forkserver()
    return build_repository(list(paths) if paths is not None else None, name=name or REPOSITORY_NAME)
