"""Create a fresh instance's storage schema once, under a file lock, before processes race to do it.

On a fresh SQLite ``DAGSTER_HOME`` every process that opens the instance creates the tables and
stamps Alembic's version table; two at once (``dagster-daemon`` and ``server webhooks`` started
together) leave two rows there, and that process, or every later one, fails with Alembic's "more
than one head present". Our entry points call :func:`ensure_instance_schema` before anything else
opens the instance: the first creates the schema, the others wait on the lock and find it made.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

#: In ``$DAGSTER_HOME``; an empty file whose only use is the ``flock``.
LOCK_FILE = ".kestra-dagster-schema.lock"


def ensure_instance_schema(home: str | os.PathLike | None = None) -> None:
    """Open the instance of ``home`` (default ``$DAGSTER_HOME``; none: nothing to do) under an exclusive lock."""
    if home or os.environ.get("DAGSTER_HOME"):
        with open_instance(home):
            pass


@contextmanager
def open_instance(home: str | os.PathLike | None = None) -> Iterator[Any]:
    """The instance of ``home`` (default ``$DAGSTER_HOME``; none: an ephemeral one), its schema made
    under the lock, kept open for the caller: opening an instance again checks every storage's
    Alembic revision again (~0.1 s of a CLI run)."""
    home = home or os.environ.get("DAGSTER_HOME")
    if not home:  # a temporary instance: nobody else shares it
        from dagster import DagsterInstance

        with DagsterInstance.ephemeral() as instance:
            yield instance
        return
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    from kestra_dagster.compat import instance_from_dir

    with open(home / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        instance = instance_from_dir(str(home))
        try:
            # Each storage creates its tables (and Alembic stamp) on first use.
            instance.get_runs(limit=1)
            instance.event_log_storage.get_maximum_record_id()
            instance.all_instigator_state()
        except BaseException:
            instance.dispose()
            raise
    with instance:
        yield instance
