"""Durable webhook deliveries, in a table of the Dagster instance's run-storage database.

The intake writes each accepted delivery here (and commits) before it answers; the flow's
webhook sensor turns PENDING rows into runs with ``run_key`` = delivery id, so a delivery yields
exactly one run however often the intake or the daemon is killed and restarted. The table
(``kestra_webhook_deliveries``) lives beside Dagster's own tables, in SQLite by default and in
Postgres in production, through the run storage's own connection (``SqlRunStorage.connect``).

Writes are group-committed: one writer thread inserts every delivery queued since its last
commit in one transaction, on a connection it keeps open (``kept_connection``), then releases the
waiting requests (those on an event loop with one wake-up per batch). A batch is whatever queued
while the previous commit was in flight. A bounded queue turns overload into a clear "try later"
(``StoreOverloaded``) instead of unbounded memory or dropped requests.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

import sqlalchemy as sa

from kestra_dagster.kept_connection import KeptConnection, kept_connection

if TYPE_CHECKING:
    from dagster import DagsterInstance

PENDING, LAUNCHED, REJECTED = "PENDING", "LAUNCHED", "REJECTED"
TAG_DELIVERY = "kestra/delivery_id"

_metadata = sa.MetaData()
deliveries = sa.Table(
    "kestra_webhook_deliveries",
    _metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(64), nullable=False, unique=True),
    sa.Column("flow_uid", sa.String(255), nullable=False),
    sa.Column("trigger_id", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("launched_at", sa.Float),
    sa.Column("error", sa.Text),
    sa.Index("idx_kestra_webhook_pending", "flow_uid", "trigger_id", "status", "seq"),
)


class StoreOverloaded(RuntimeError):
    """More deliveries are waiting to be written than the store accepts; retry later."""


class StoreUnavailable(RuntimeError):
    """The database did not accept the write (locked, down); nothing was stored."""


@dataclass
class Delivery:
    delivery_id: str
    flow_uid: str
    trigger_id: str
    status: str
    payload: dict[str, Any]
    run_id: str | None
    received_at: float
    launched_at: float | None = None
    error: str | None = None
    seq: int = 0

    @classmethod
    def from_row(cls, row: Any) -> "Delivery":
        m = row._mapping
        return cls(delivery_id=m["delivery_id"], flow_uid=m["flow_uid"], trigger_id=m["trigger_id"],
                   status=m["status"], payload=json.loads(m["payload"]), run_id=m["run_id"],
                   received_at=m["received_at"], launched_at=m["launched_at"], error=m["error"], seq=m["seq"])


def ensure_tables(sql_storage: Any, metadata: sa.MetaData) -> None:
    """Create our tables beside Dagster's if missing; tolerate another process creating them at the
    same moment (the intake and the daemon's code server both start on a fresh database)."""
    try:
        with sql_storage.connect() as conn:
            metadata.create_all(conn, checkfirst=True)
    except sa.exc.SQLAlchemyError:
        with sql_storage.connect() as conn:
            missing = [t.name for t in metadata.sorted_tables if not sa.inspect(conn).has_table(t.name)]
        if missing:
            raise


_INSERT_COLUMNS = ("delivery_id", "flow_uid", "trigger_id", "status", "payload", "run_id", "received_at")
#: Rows per multi-row INSERT on a network database (7 parameters each: far below any driver's limit).
_ROWS_PER_STATEMENT = 500


def _insert_rows(conn: sa.Connection, rows: list[tuple]) -> None:
    """Insert ``rows`` (values in ``_INSERT_COLUMNS`` order) with as little Python per row as the driver allows.

    SQLAlchemy's compiled multi-row insert cost the intake's writer more CPU than the database
    spent on the batch. SQLite gets the driver's executemany (a loop in C); PostgreSQL one
    multi-row ``INSERT … VALUES (…), (…)`` per 500 rows (one round trip, one statement to plan).
    Errors still pass through SQLAlchemy, so a dead connection is still told from a failed commit.
    """
    head = f"INSERT INTO {deliveries.name} ({', '.join(_INSERT_COLUMNS)}) VALUES "
    style = conn.dialect.paramstyle
    if style == "qmark":
        conn.exec_driver_sql(head + f"({', '.join('?' * len(_INSERT_COLUMNS))})", rows)
    elif style in ("format", "pyformat"):
        one = f"({', '.join(['%s'] * len(_INSERT_COLUMNS))})"
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[start:start + _ROWS_PER_STATEMENT]
            conn.exec_driver_sql(head + ", ".join([one] * len(chunk)), tuple(v for row in chunk for v in row))
    else:  # named parameters: let SQLAlchemy bind them
        conn.execute(deliveries.insert(), [dict(zip(_INSERT_COLUMNS, row)) for row in rows])


def new_delivery_id() -> str:
    return uuid.uuid4().hex


class DeliveryStore:
    """Reads and writes deliveries through ``instance``'s SQL run storage."""

    def __init__(self, instance: "DagsterInstance"):
        from kestra_dagster.instance_kv import _sql_run_storage

        self.instance = instance
        self._sql = _sql_run_storage(instance)
        if self._sql is None:
            raise RuntimeError(
                f"the Dagster instance's run storage ({type(instance.run_storage).__name__}) is not SQL-based; "
                "webhook deliveries need SQLite, Postgres or MySQL storage"
            )
        ensure_tables(self._sql, _metadata)
        #: The connection ``insert_many`` keeps (False: not opened yet; None: this storage has none).
        self._kept: KeptConnection | None | bool = False

    # ------------------------------------------------------------------ writes
    def insert_many(self, items: list[Delivery]) -> None:
        """Insert and commit ``items`` in one transaction (raises on failure: nothing stored)."""
        rows = [(d.delivery_id, d.flow_uid, d.trigger_id, d.status, json.dumps(d.payload, default=str), d.run_id,
                 d.received_at) for d in items]
        kept = self._kept_connection()
        if kept is not None:  # one transaction on the connection the writer keeps
            kept.run(lambda conn: _insert_rows(conn, rows))
            return
        # SQLite: connect() wraps the block in a transaction; Postgres: Dagster's engine autocommits.
        with self._sql.connect() as conn:
            _insert_rows(conn, rows)

    def _kept_connection(self) -> KeptConnection | None:
        if self._kept is False:
            self._kept = kept_connection(self._sql)
        return self._kept

    def close(self) -> None:
        """Close the kept connection, if ``insert_many`` opened one."""
        kept, self._kept = self._kept, False
        if kept:
            kept.close()

    def mark_launched(self, runs: dict[str, str]) -> None:
        """``{delivery_id: run_id}`` → LAUNCHED."""
        if not runs:
            return
        now = time.time()
        with self._sql.connect() as conn:
            for delivery_id, run_id in runs.items():
                conn.execute(deliveries.update().where(deliveries.c.delivery_id == delivery_id)
                             .values(status=LAUNCHED, run_id=run_id, launched_at=now))

    def mark_rejected(self, delivery_id: str, error: str) -> None:
        """A delivery that can never become a run (its inputs are invalid): kept, with the reason."""
        with self._sql.connect() as conn:
            conn.execute(deliveries.update().where(deliveries.c.delivery_id == delivery_id)
                         .values(status=REJECTED, error=error[:4000], launched_at=time.time()))

    # ------------------------------------------------------------------ reads
    def pending(self, flow_uid: str, trigger_id: str, limit: int = 200) -> list[Delivery]:
        query = (deliveries.select().where(deliveries.c.flow_uid == flow_uid, deliveries.c.trigger_id == trigger_id,
                                           deliveries.c.status == PENDING)
                 .order_by(deliveries.c.seq).limit(limit))
        with self._sql.connect() as conn:
            rows = conn.execute(query).fetchall()
        found = []
        for row in rows:  # a row that cannot be read is rejected alone, never blocks the others
            try:
                found.append(Delivery.from_row(row))
            except (ValueError, RecursionError) as exc:
                self.mark_rejected(row._mapping["delivery_id"], f"the stored delivery cannot be read: {type(exc).__name__}")
        return found

    def get(self, delivery_id: str) -> Delivery | None:
        with self._sql.connect() as conn:
            row = conn.execute(deliveries.select().where(deliveries.c.delivery_id == delivery_id)).fetchone()
        return Delivery.from_row(row) if row else None

    def count(self, flow_uid: str | None = None, status: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(deliveries)
        if flow_uid is not None:
            query = query.where(deliveries.c.flow_uid == flow_uid)
        if status is not None:
            query = query.where(deliveries.c.status == status)
        with self._sql.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def all_ids(self) -> list[str]:
        with self._sql.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(deliveries.c.delivery_id).order_by(deliveries.c.seq))]

    # ------------------------------------------------------------------ runs
    def runs_for(self, delivery_ids: Iterable[str]) -> dict[str, str]:
        """``{delivery_id: run_id}`` for the deliveries that already have a Dagster run."""
        from dagster import RunsFilter

        ids = list(delivery_ids)
        if not ids:
            return {}
        records = self.instance.get_run_records(filters=RunsFilter(tags={TAG_DELIVERY: ids}))
        return {r.dagster_run.tags[TAG_DELIVERY]: r.dagster_run.run_id for r in records}

    def refresh(self, delivery: Delivery) -> Delivery:
        """Fill in the run id of a PENDING delivery once its run exists (and record it)."""
        if delivery.status == PENDING:
            found = self.runs_for([delivery.delivery_id])
            if found:
                self.mark_launched(found)
                delivery.status, delivery.run_id = LAUNCHED, found[delivery.delivery_id]
        return delivery


class GroupCommitWriter:
    """One thread that commits queued deliveries in batches; ``submit`` returns a Future, resolved
    only once its delivery's transaction has committed.

    A batch is whatever queued while the previous commit was in flight: waiting for more only adds
    latency (a 2 ms linger cost 10-35 % of the throughput in bench/bench_intake_vs_reference.py), and
    a second writer on PostgreSQL measured no better than one.
    """

    def __init__(self, store: DeliveryStore, max_queue: int = 5000, max_batch: int = 500):
        self.store = store
        self.max_batch = max_batch
        #: Batches committed and deliveries in them (for benchmarks and tests).
        self.batches = self.committed = 0
        self._queue: queue.Queue[tuple[Delivery, Future]] = queue.Queue(maxsize=max_queue)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kestra-delivery-writer", daemon=True)
        self._thread.start()

    def submit(self, delivery: Delivery) -> Future:
        """A future set once ``delivery`` is committed (or failed to be)."""
        future: Future = Future()
        self._put(delivery, future)
        return future

    def submit_async(self, delivery: Delivery) -> "asyncio.Future[None]":
        """Like ``submit``, for a request on an event loop: a batch's waiters on one loop are woken
        with one thread-safe call, not one per delivery (each is a wake-up of the loop)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put(delivery, (loop, future))
        return future

    def _put(self, delivery: Delivery, waiter: Any) -> None:
        try:
            self._queue.put_nowait((delivery, waiter))
        except queue.Full:
            raise StoreOverloaded(f"{self._queue.maxsize} deliveries are already waiting to be stored") from None

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.store.close()

    def _take(self, first: tuple[Delivery, Future]) -> list[tuple[Delivery, Future]]:
        """``first`` and whatever is queued now."""
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = self._take(first)
            error = None
            try:
                self.store.insert_many([d for d, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting request learns it failed
                error = StoreUnavailable(f"the delivery store rejected the write: {type(exc).__name__}")
            else:
                self.batches += 1
                self.committed += len(batch)
            _settle([waiter for _, waiter in batch], error)


def _settle(waiters: list, error: Exception | None) -> None:
    """Set every waiter of a batch: concurrent futures here, event-loop futures with one call per loop."""
    by_loop: dict[Any, list] = {}
    for waiter in waiters:
        if isinstance(waiter, Future):
            waiter.set_exception(error) if error is not None else waiter.set_result(None)
        else:
            by_loop.setdefault(waiter[0], []).append(waiter[1])
    for loop, futures in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_on_loop, futures, error)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass


def _settle_on_loop(futures: list, error: Exception | None) -> None:
    for future in futures:
        if not future.done():  # a cancelled request (client gone) no longer waits
            future.set_exception(error) if error is not None else future.set_result(None)
