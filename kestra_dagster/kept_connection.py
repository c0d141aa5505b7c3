"""One database connection kept open by a writer that commits many times a second.

Opening a connection per transaction (what Dagster's run storages do) costs a TCP connect and a
SCRAM handshake on PostgreSQL, more than the insert itself. The webhook intake's group-commit
writer keeps one connection instead (``compat.kept_engine``) and survives the database going
away: a connection found dead before anything was committed is replaced and the transaction run
again once; a failure while committing is never retried (the commit may have happened), so the
caller reports it and nothing is acknowledged twice.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

import sqlalchemy as sa

T = TypeVar("T")


class KeptConnection:
    """``run(work)`` executes ``work(conn)`` in one transaction on a connection kept between calls."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._conn: sa.Connection | None = None
        self._lock = threading.Lock()
        #: Connections opened so far (1 while the database stays up).
        self.connects = 0

    def run(self, work: Callable[[sa.Connection], T]) -> T:
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                committing = False
                try:
                    with conn.begin():
                        result = work(conn)
                        committing = True  # leaving the block commits
                    return result
                except sa.exc.DBAPIError as exc:
                    self._drop()
                    if attempt == 1 and exc.connection_invalidated and not committing:
                        continue  # the connection was dead before the commit: nothing was written
                    raise
                except BaseException:
                    self._drop()
                    raise
            raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            self._drop()
            self.engine.dispose()

    def _connection(self) -> sa.Connection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self.engine.connect()
            self.connects += 1
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass


def kept_connection(sql_storage: Any) -> KeptConnection | None:
    """A ``KeptConnection`` to a Dagster run storage's database, or None for a storage we cannot
    reach that way (the caller then uses the storage's own ``connect()``)."""
    from kestra_dagster.compat import kept_engine

    engine = kept_engine(sql_storage)
    return KeptConnection(engine) if engine is not None else None
