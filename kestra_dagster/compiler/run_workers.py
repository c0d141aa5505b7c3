"""Start run workers from a fork server that has already imported Dagster and kestra-dagster.

A Dagster code server starts each run in a new process with multiprocessing's ``spawn``: a fresh
Python that imports dagster and this package before the run can begin, 1.5-2 s on an idle 2-core
machine and 5-10 s on a busy one (see ``bench/bench_webhook.py``: accepted → worker process up).
Python's ``forkserver`` start method keeps one single-threaded helper process that imported those
modules once and forks it for each run, so a worker is up in milliseconds. The fork happens in
that helper, never in the multi-threaded gRPC server, which is what makes ``fork`` unsafe there;
the worker still loads the code location (``kestra_dagster.definitions``, i.e. the flow files)
itself, at run time, exactly as a spawned worker does, so it never runs stale flows.

Dagster hard-codes ``spawn`` (``DagsterApiServer._mp_ctx``, checked against dagster 1.13), so
``start_runs_from_forkserver()`` wraps ``DagsterApiServer.StartRun`` to use the forkserver context.
The code location module calls it when it loads; ``KESTRA_RUN_WORKER_START=spawn`` keeps Dagster's
behaviour. If a Dagster upgrade renames what is patched, runs start the stock way.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import threading

#: Imported once by the fork server (its own module, so the code server imports none of it twice).
PRELOAD = ["kestra_dagster.compiler._worker_preload"]

log = logging.getLogger("kestra_dagster")


def start_runs_from_forkserver() -> bool:
    """Make this process's Dagster code server start run workers from a preloaded fork server
    (idempotent; False when disabled or when this process is no code server). A code server has
    imported Dagster's gRPC server before it loads us; a run worker, a CLI or a script has not,
    and must not pay for importing gRPC. In a code server the fork server is started at once, in
    the background, so the first run does not wait for its imports either."""
    if os.environ.get("KESTRA_RUN_WORKER_START", "forkserver") != "forkserver":
        return False
    from kestra_dagster.compat import code_server_class

    DagsterApiServer = code_server_class()  # noqa: N806 - Dagster's class
    if DagsterApiServer is None or "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    original = DagsterApiServer.StartRun
    if getattr(original, "_kestra_forkserver", False):
        return True
    if "_mp_ctx" not in DagsterApiServer.__init__.__code__.co_names:
        log.warning("kestra-dagster: this dagster's code server has no _mp_ctx; run workers start with spawn")
        return False
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)

    @functools.wraps(original)
    def StartRun(self, request, grpc_context):  # noqa: N802 - Dagster's gRPC method name
        self._mp_ctx = context
        return original(self, request, grpc_context)

    StartRun._kestra_forkserver = True  # type: ignore[attr-defined]
    DagsterApiServer.StartRun = StartRun
    if multiprocessing.parent_process() is None:  # not a worker that some code server started itself
        threading.Thread(target=_warm_up, name="kestra-forkserver-warm-up", daemon=True).start()
    return True


def _warm_up() -> None:
    from multiprocessing import forkserver

    try:
        forkserver.ensure_running()
    except Exception as exc:  # noqa: BLE001 - the first run will start it (or report why it cannot)
        log.warning("kestra-dagster: could not start the run-worker fork server ahead of time: %s", exc)
