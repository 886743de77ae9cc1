"""DESIGN §5 "Two machines": the same store in PostgreSQL, shared by several nodes.

Only what is PostgreSQL's own lives here and beside it: transactions, the pool, the poll
lock (a session-level advisory lock that also elects the daemon's leader) and fencing here;
connecting with every round trip bounded and error translation in pg_connect.py; the
schema and its migrations in pg_schema.py. The jobs
(tracking, history, outbox, validators) are the portable SQL of the other modules, run
through `_PgSql`, which turns their `?` placeholders into psycopg's `%s`.

Synchronous psycopg on purpose: the Store interface is synchronous (SQLite's is, and the
job modules are shared), the daemon is one thread whose store calls are short, and each
call is bounded by connect_timeout, statement_timeout, lock_timeout and TCP keepalives /
tcp_user_timeout, so a hung server stalls the loop for seconds, never forever.

Fencing: the poll cycle's writes (`record_poll`, `forget_validators`) go through the very
session that holds the advisory lock. If that session ends (process killed, connection
cut, pg_terminate_backend), the server has released the lock *and* the connection is
dead, so nothing of the interrupted cycle can be written after another node took over.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import psycopg
import psycopg_pool

from statuswatch.model import Transition
from statuswatch.store.errors import (
    LeadershipLost,
    StoreLocked,
    StoreUnavailable,
    StoreUnwritable,
)
from statuswatch.store.interface import Store
from statuswatch.store.outbox import CLAIM_CHUNK
from statuswatch.store.pg_connect import (
    CONNECT_TIMEOUT,
    connect,
    conninfo,
    describe_target,
    node_name,
    translate,
)
from statuswatch.store.pg_schema import check_version, migrate, schema_exists
from statuswatch.store.records import FeedCache, LeaderInfo, OutboxEntry, dt, ts
from statuswatch.store.sql import FetchedRows, Sql
from statuswatch.tracker import SourceTrack

log = logging.getLogger("statuswatch.store")

#: pg_advisory_lock key of the poll lock (leadership); pg_schema.MIGRATION_LOCK is the other.
POLL_LOCK = 0x5357_0001

# While the database is known to be failing, waiting for a pooled connection is cut short:
# the pool keeps reconnecting in the background, and the daemon's loop, its status line
# and a /metrics scrape must not stall CONNECT_TIMEOUT * 2 on every store call meanwhile.
DOWN_WAIT = 0.5

# -- the Sql protocol over psycopg -----------------------------------------------------


@functools.lru_cache(maxsize=512)
def _adapt(query: str) -> str:
    """`?` -> `%s`, and a literal `%` (none in the job modules' SQL today) -> `%%`."""
    return query.replace("%", "%%").replace("?", "%s")


class _PgSql:
    """One psycopg connection seen through the job modules' Sql protocol."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def execute(self, query: str, params: Sequence[Any] = ()) -> FetchedRows:
        cursor = self.connection.execute(_adapt(query), tuple(params))  # type: ignore[arg-type]
        rows = cursor.fetchall() if cursor.description is not None else []
        return FetchedRows(rows, cursor.rowcount)

    def executemany(self, query: str, params: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(p) for p in params]
        if batch:
            with self.connection.cursor() as cursor:
                cursor.executemany(_adapt(query), batch)  # type: ignore[arg-type]


class _PoolReader:
    """`_reader()`: each read borrows a pooled connection for one autocommit statement."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    def execute(self, query: str, params: Sequence[Any] = ()) -> FetchedRows:
        with self.store._connection() as connection:
            return _PgSql(connection).execute(query, params)

    def executemany(self, query: str, params: Iterable[Sequence[Any]]) -> None:
        with self.store._connection() as connection:
            _PgSql(connection).executemany(query, params)


# -- the store -------------------------------------------------------------------------


class PostgresStore(Store):
    """The store in PostgreSQL. Open with `PostgresStore.open(dsn)`."""

    shared = True

    def __init__(
        self, dsn: str, pool: psycopg_pool.ConnectionPool[Any], *, readonly: bool = False
    ) -> None:
        self.dsn = dsn
        self.readonly = readonly
        self.target = describe_target(dsn)
        self.location = str(self.target)
        self.state_dir = None
        self._pool = pool
        self._info = conninfo(dsn, readonly=readonly)
        # The session holding the poll lock for good (a daemon's leadership) ...
        self._lead: psycopg.Connection[Any] | None = None
        self.leader = False
        self.leader_since: datetime | None = None
        self.epoch: int | None = None
        # ... and the session through which the current cycle writes (see module doc).
        self._cycle: psycopg.Connection[Any] | None = None
        self._fenced = False
        self._down = False  # the last attempt to reach the server failed

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, dsn: str, *, readonly: bool = False) -> PostgresStore:
        """Connect, create or migrate the schema, and start a small pool. With `readonly`
        (the reading commands, DESIGN §5) every session is read only and nothing is
        created or migrated."""
        info = conninfo(dsn, readonly=readonly)
        where = describe_target(dsn)
        connection = connect(conninfo(dsn), where)
        try:
            if readonly and schema_exists(connection, where):
                check_version(connection, where)
            else:
                # A database without our schema gets it (empty) from whichever command
                # comes first, readers included: nothing recorded changes, `status` before
                # any check works as on SQLite, and a role lacking privileges hears it now.
                migrate(connection, where)
        finally:
            connection.close()
        pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
            info,
            min_size=1,
            max_size=4,
            kwargs={"autocommit": True},
            timeout=CONNECT_TIMEOUT * 2,
            open=False,
            name="statuswatch",
        )
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT * 2)
        except psycopg_pool.PoolTimeout:
            pool.close()
            raise StoreUnavailable(
                f"PostgreSQL at {where} stopped accepting connections; try again"
            ) from None
        return cls(dsn, pool, readonly=readonly)

    def close(self) -> None:
        self.resign()
        self._pool.close()

    # -- connections and transactions ---------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        wait = DOWN_WAIT if self._down else CONNECT_TIMEOUT * 2
        try:
            with self._pool.connection(timeout=wait) as connection:
                self._down = False
                yield connection
        except psycopg_pool.PoolTimeout:
            self._down = True
            raise StoreUnavailable(
                f"no connection to PostgreSQL at {self.location}; is the server up?"
            ) from None
        except psycopg.OperationalError as error:
            self._down = True
            raise translate(error, self.target) from None
        except psycopg.Error as error:
            raise translate(error, self.target) from None

    def _reader(self) -> Sql:
        return _PoolReader(self)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Sql]:
        if self.readonly:
            raise StoreUnwritable(
                f"the database {self.location} was opened read-only (a reading command); "
                "this is a bug if you see it"
            )
        if self._fenced and self._cycle is not None:
            # A cycle's own writes: through the lock-holding session, or not at all.
            connection = self._cycle
            try:
                with connection.transaction():
                    yield _PgSql(connection)
            except psycopg.OperationalError:
                self._lost(connection)
                raise LeadershipLost(
                    f"the session holding the poll lock on {self.location} ended; this "
                    "node wrote nothing of its cycle and stands by"
                ) from None
            except psycopg.Error as error:
                raise translate(error, self.target) from None
            return
        with self._connection() as connection, connection.transaction():
            yield _PgSql(connection)

    @contextlib.contextmanager
    def _fence(self) -> Iterator[None]:
        previous, self._fenced = self._fenced, True
        try:
            yield
        finally:
            self._fenced = previous

    def record_poll(
        self,
        source: str,
        at: datetime,
        before: SourceTrack,
        after: SourceTrack,
        transitions: Sequence[Transition],
        deliveries: Sequence[Sequence[OutboxEntry]],
        *,
        error: str | None = None,
        feed: FeedCache | None = None,
    ) -> list[Transition]:
        with self._fence():
            return super().record_poll(
                source, at, before, after, transitions, deliveries, error=error, feed=feed
            )

    def forget_validators(self, source: str) -> None:
        with self._fence():
            super().forget_validators(source)

    def size_bytes(self) -> int:
        row = self._reader().execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0

    # -- the outbox across nodes --------------------------------------------------------

    def claim(self, row_id: int, now: datetime, claimer: str, stale_after: float = 300.0) -> bool:
        """outbox.py's compare-and-set, with `FOR UPDATE SKIP LOCKED`: a row that another
        node is claiming at this instant is skipped at once instead of waited for."""
        with self._connection() as connection:
            cursor = connection.execute(
                "UPDATE outbox SET status = 'sending', claimed_at = %s, claimed_by = %s,"
                " next_attempt_at = %s WHERE id = (SELECT id FROM outbox WHERE id = %s"
                " AND (status = 'pending' OR (status = 'sending' AND claimed_at <= %s))"
                " FOR UPDATE SKIP LOCKED)",
                (ts(now), claimer, ts(now) + stale_after, row_id, ts(now) - stale_after),  # type: ignore[operator]
            )
            return cursor.rowcount == 1

    def claim_many(
        self, row_ids: Sequence[int], now: datetime, claimer: str, stale_after: float = 300.0
    ) -> list[int]:
        """claim() for many rows in one statement per chunk, rows being claimed by another
        node at this instant skipped (SKIP LOCKED), as claim() does for one."""
        won: list[int] = []
        for start in range(0, len(row_ids), CLAIM_CHUNK):
            chunk = list(row_ids[start : start + CLAIM_CHUNK])
            with self._connection() as connection:
                rows = connection.execute(
                    "UPDATE outbox SET status = 'sending', claimed_at = %s, claimed_by = %s,"
                    " next_attempt_at = %s WHERE id IN (SELECT id FROM outbox"
                    " WHERE id = ANY(%s) AND (status = 'pending'"
                    " OR (status = 'sending' AND claimed_at <= %s)) FOR UPDATE SKIP LOCKED)"
                    " RETURNING id",
                    (ts(now), claimer, ts(now) + stale_after, chunk, ts(now) - stale_after),  # type: ignore[operator]
                ).fetchall()
            won.extend(int(row[0]) for row in rows)
        return won

    # -- the poll lock and leadership ---------------------------------------------------

    def try_lead(self) -> bool:
        """Take the poll lock on a dedicated session and keep it (the daemon's election)."""
        if self.leader:
            return self.still_leading()
        if self._lead is None or self._lead.closed:
            try:
                self._lead = connect(self._info, self.target)
            except StoreUnavailable:
                self._down = True
                raise
            self._down = False
        try:
            row = self._lead.execute("SELECT pg_try_advisory_lock(%s)", (POLL_LOCK,)).fetchone()
            if not (row and row[0]):
                return False
            now = time.time()
            with self._lead.transaction():
                epoch = self._lead.execute(
                    "INSERT INTO leadership (id, node, since, epoch) VALUES (1, %s, %s, 1)"
                    " ON CONFLICT (id) DO UPDATE SET node = excluded.node,"
                    " since = excluded.since, epoch = leadership.epoch + 1 RETURNING epoch",
                    (node_name(), now),
                ).fetchone()
        except psycopg.OperationalError:
            self._lost(self._lead)
            return False
        except psycopg.Error as error:
            raise translate(error, self.target) from None
        self.leader, self.leader_since = True, dt(now)
        self.epoch = int(epoch[0]) if epoch else None
        return True

    def still_leading(self) -> bool:
        """One round trip on the lock's session: False (and standby) once it has ended."""
        if not self.leader or self._lead is None:
            return False
        try:
            self._lead.execute("SELECT 1")
        except psycopg.Error:
            # Its session ended: maybe the server is gone too (then do not wait for the
            # pool in the next store calls; a live pool answers at once anyway).
            self._down = True
            self._lost(self._lead)
            return False
        return True

    def resign(self) -> None:
        lead, self._lead = self._lead, None
        self.leader, self.leader_since = False, None
        if lead is not None and not lead.closed:
            with contextlib.suppress(psycopg.Error):
                lead.execute("SELECT pg_advisory_unlock(%s)", (POLL_LOCK,))
            lead.close()

    def _lost(self, connection: psycopg.Connection[Any] | None) -> None:
        if connection is not None and connection is self._lead:
            self._lead = None
            self.leader, self.leader_since = False, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    @contextlib.contextmanager
    def cycle_lock(self, wait: float = 5.0, poll: float = 0.05) -> Iterator[None]:
        """The poll lock for one cycle. A leading daemon already holds it (after checking
        that its session lives); anyone else — a one-shot `check`, a timer on a third
        machine — takes it on a session of its own for the cycle, or gets StoreLocked."""
        if self.leader:
            if not self.still_leading():
                raise LeadershipLost(
                    f"this node's session holding the poll lock on {self.location} ended; "
                    "it stands by"
                )
            self._cycle = self._lead
            try:
                yield
            finally:
                self._cycle = None
            return
        connection = connect(self._info, self.target)
        try:
            deadline = time.monotonic() + wait
            while True:
                row = connection.execute("SELECT pg_try_advisory_lock(%s)", (POLL_LOCK,)).fetchone()
                if row and row[0]:
                    break
                if time.monotonic() >= deadline:
                    raise StoreLocked(
                        f"another statuswatch node or check holds the poll lock on "
                        f"{self.location}; try again when its cycle has finished"
                    )
                time.sleep(poll)
            self._cycle = connection
            try:
                yield
            finally:
                self._cycle = None
        except psycopg.OperationalError as error:
            raise translate(error, self.target) from None
        finally:
            # Closing the session releases its advisory lock with it.
            connection.close()

    def leader_info(self) -> LeaderInfo:
        row = (
            self._reader()
            .execute(
                "SELECT (SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
                " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
                " AND l.classid = ? AND l.objid = ? AND l.objsubid = 1 LIMIT 1),"
                " (SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'"
                " AND l.granted AND l.classid = ? AND l.objid = ? AND l.objsubid = 1)),"
                " s.node, s.since, s.epoch FROM (SELECT 1) one"
                " LEFT JOIN leadership s ON s.id = 1",
                (POLL_LOCK >> 32, POLL_LOCK & 0xFFFFFFFF) * 2,
            )
            .fetchone()
        )
        assert row is not None
        app, held, node, since, epoch = row
        holder = None
        if held:
            holder = str(app).removeprefix("statuswatch ") if app else "another session"
        return LeaderInfo(
            node=holder,
            since=dt(since) if holder is not None and holder == node else None,
            epoch=int(epoch or 0),
            last_node=node,
        )
