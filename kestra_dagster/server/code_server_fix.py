"""Keep the code server's orphaned-run check alive through a database outage.

Dagster's gRPC code server (``dagster api grpc``, also behind ``dagster code-server start``)
marks a run FAILURE when its run worker process died, from a cleanup thread that runs
``DagsterApiServer._check_for_orphaned_runs`` every 0.5 s. That thread has no error handling: if
the database is unreachable at that moment, the thread ends, the dead run stays STARTED forever
and the server never shuts down (it waits for that execution). Measured here with PostgreSQL
outages of 60 s and 120 s (tests/deploy/test_postgres_outage.py).

:func:`install` wraps the check so a failure is logged and retried at the next tick: once the
database is back, the run is marked FAILURE with Dagster's own message ("Run execution process
for … unexpectedly exited"). It patches one private method (checked against dagster 1.13); if a
Dagster upgrade renames it, nothing is patched and a warning says so.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("kestra_dagster.code_server")
_WARN_EVERY = 30.0


def install() -> bool:
    """Harden this process's code server (False when this process is no code server: a code
    server imported Dagster's gRPC server before it loaded us; a run worker or CLI must not
    pay for importing it)."""
    from kestra_dagster.compat import code_server_class

    DagsterApiServer = code_server_class()  # noqa: N806 - Dagster's class
    if DagsterApiServer is None:
        return False
    original = getattr(DagsterApiServer, "_check_for_orphaned_runs", None)
    if original is None:
        log.warning("dagster's code server has no _check_for_orphaned_runs; orphaned-run check not hardened")
        return False
    if getattr(original, "_kestra_hardened", False):
        return True
    last_warning = [0.0]

    def check_for_orphaned_runs(self) -> None:
        try:
            original(self)
        except Exception as exc:  # noqa: BLE001 - the database is down: try again at the next tick
            if time.monotonic() - last_warning[0] > _WARN_EVERY:
                last_warning[0] = time.monotonic()
                log.warning("cannot check for orphaned runs (%s: %s); retrying until the database answers",
                            type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")

    check_for_orphaned_runs._kestra_hardened = True  # type: ignore[attr-defined]
    DagsterApiServer._check_for_orphaned_runs = check_for_orphaned_runs
    return True


__all__ = ["install"]
