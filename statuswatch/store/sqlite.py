"""DESIGN §5: the default store, an embedded SQLite database (WAL) under the state
directory. This module holds only what is SQLite's own: opening, the schema and its
migrations, transactions, the poll-cycle file lock and error translation; the jobs
(tracking, history, outbox, validators) are shared with PostgreSQL through `Store`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from statuswatch.store import sqlite_faults as faults
from statuswatch.store.errors import StoreLocked, StoreUnwritable
from statuswatch.store.interface import Store
from statuswatch.store.sql import Sql

log = logging.getLogger("statuswatch.store")

DB_NAME = "statuswatch.db"
LOCK_NAME = "statuswatch.lock"
SCHEMA_VERSION = 2

_SCHEMA = [
    # version 1
    """
    CREATE TABLE service_state (
        source TEXT NOT NULL,
        service_key TEXT NOT NULL,
        service TEXT NOT NULL,
        state TEXT,
        since REAL,
        cause TEXT,
        candidate TEXT,
        candidate_since REAL,
        streak INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (source, service_key)
    );
    CREATE TABLE source_state (
        source TEXT PRIMARY KEY,
        last_poll REAL,
        last_success REAL,
        first_failure REAL,
        down INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        etag TEXT,
        last_modified TEXT,
        body_hash TEXT,
        body BLOB
    );
    CREATE TABLE transitions (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        service TEXT,
        kind TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        at REAL NOT NULL,
        since REAL,
        event TEXT,
        redirect_url TEXT
    );
    CREATE INDEX transitions_at ON transitions (at);
    CREATE TABLE planned_seen (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        first_seen REAL NOT NULL,
        PRIMARY KEY (source, key)
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        transition_id INTEGER NOT NULL REFERENCES transitions (id),
        subscriber TEXT NOT NULL,
        target_key TEXT NOT NULL,
        target_label TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        next_attempt_at REAL NOT NULL,
        claimed_at REAL,
        claimed_by TEXT,
        sent_at REAL,
        last_error TEXT,
        UNIQUE (transition_id, subscriber, target_key)
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
    """,
    # version 2 (DESIGN §4, §4a): outbox rows that are not transitions (policy messages
    # such as `starting` and `reminder`, `delivery_failed`): transition_id becomes
    # optional, `kind` names the message when it is not the transition's own, `payload`
    # holds what it says (JSON). `held_until`: quiet hours held the row until then (it goes
    # out in a catch-up). `silence_id`: the silence that made the row `silenced`.
    # `policy_keys`: one key per policy message ever queued, so that restarts, concurrent
    # runs and a second node never queue it twice. `silences`: `statuswatch silence`.
    # SQLite cannot drop NOT NULL in place: the outbox is rebuilt (nothing references it).
    """
    CREATE TABLE outbox_v2 (
        id INTEGER PRIMARY KEY,
        transition_id INTEGER REFERENCES transitions (id),
        subscriber TEXT NOT NULL,
        target_key TEXT NOT NULL,
        target_label TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        next_attempt_at REAL NOT NULL,
        claimed_at REAL,
        claimed_by TEXT,
        sent_at REAL,
        last_error TEXT,
        kind TEXT,
        policy_key TEXT,
        payload TEXT,
        held_until REAL,
        silence_id INTEGER,
        UNIQUE (transition_id, subscriber, target_key)
    );
    INSERT INTO outbox_v2 (id, transition_id, subscriber, target_key, target_label, status,
        attempts, created_at, next_attempt_at, claimed_at, claimed_by, sent_at, last_error)
        SELECT id, transition_id, subscriber, target_key, target_label, status, attempts,
        created_at, next_attempt_at, claimed_at, claimed_by, sent_at, last_error FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v2 RENAME TO outbox;
    CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
    CREATE UNIQUE INDEX outbox_policy_key ON outbox (policy_key);
    CREATE TABLE policy_keys (
        key TEXT PRIMARY KEY,
        created_at REAL NOT NULL
    );
    CREATE TABLE silences (
        id INTEGER PRIMARY KEY,
        service TEXT,
        subscriber TEXT,
        kind TEXT,
        starts_at REAL NOT NULL,
        ends_at REAL NOT NULL,
        comment TEXT,
        created_at REAL NOT NULL,
        created_by TEXT,
        expired_at REAL
    );
    CREATE INDEX silences_ends ON silences (ends_at);
    """,
]


def default_state_dir() -> Path:
    """DESIGN §5: $STATE_DIRECTORY (systemd), else $XDG_STATE_HOME, else ~/.local/state."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "statuswatch"


class SqliteStore(Store):
    """One SQLite database. Every write is a short transaction; see `cycle_lock()`.

    Opened with `readonly=True` (the readers: `status`, `history`, the outbox listing,
    `export`), it never writes, creates, migrates or moves anything (DESIGN §5), and works
    on a state directory this user cannot write.
    """

    def __init__(
        self, state_dir: Path, connection: sqlite3.Connection, *, readonly: bool = False
    ) -> None:
        self.state_dir = state_dir
        self.path = state_dir / DB_NAME
        self._lock_path = str(state_dir / LOCK_NAME)
        self.location = str(state_dir)
        self.readonly = readonly
        self._db = connection
        self._reads = faults.Reader(connection, self.path, writer=not readonly)

    # -- opening -----------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: Path, *, readonly: bool = False) -> SqliteStore:
        """Open (creating, migrating, or replacing a corrupt file) the database; or, with
        `readonly`, only read it."""
        if readonly:
            return cls(state_dir, _connect_readonly(state_dir / DB_NAME), readonly=True)
        faults.ensure_dir(state_dir)
        path = state_dir / DB_NAME
        faults.ensure_writable(path)
        try:
            connection = _connect(path)
        except sqlite3.DatabaseError as error:
            if faults.is_locked(error):
                raise StoreLocked(
                    f"the database {path} is locked by another process; try again shortly"
                ) from None
            if not faults.is_corrupt(error):
                raise faults.translate(error, path) from None
            aside = faults.move_aside(path)
            log.warning(
                "the database %s was corrupt (%s); moved it to %s and started a new one: "
                "stored states and pending notifications in it are not used",
                path,
                error,
                aside.name,
            )
            try:
                connection = _connect(path)
            except sqlite3.DatabaseError as again:
                raise faults.translate(again, path) from None
        return cls(state_dir, connection)

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def cycle_lock(self, wait: float = 5.0, poll: float = 0.05) -> Iterator[None]:
        """DESIGN §5: one poll cycle at a time per state directory.

        A file lock rather than a database lock, so that readers (`status`, `history`)
        and the outbox's own compare-and-set claims keep working meanwhile; the kernel
        releases it if the process dies.
        """
        self._refuse_if_readonly()
        lock_path = self._lock_path
        try:
            # os.open, not open(): no buffered file object (and its fstat, lseek and ioctl)
            # for a descriptor that is only ever flock()ed, once per poll of the daemon.
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as error:
            raise StoreUnwritable(
                f"cannot create the lock file {lock_path}: {error.strerror}"
            ) from None
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreLocked(
                            "another statuswatch check is running on "
                            f"{self.state_dir}; try again when it has finished"
                        ) from None
                    time.sleep(poll)
            yield
        finally:
            os.close(fd)

    def change_counter(self) -> int | None:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Sql]:
        """BEGIN IMMEDIATE ... COMMIT. Every sqlite error on the way (a full disk, a
        read-only file, an I/O error) comes out as one StoreError sentence; SQLite may
        already have rolled the transaction back itself (after SQLITE_FULL, say), so we
        roll back only what is still open."""
        self._refuse_if_readonly()
        self._memo.clear()  # record_poll() puts back what it knows it wrote
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise self._reads.fault(error) from None
        try:
            yield self._db
        except sqlite3.IntegrityError:
            # A constraint broken by our own SQL is a bug (exit 70), not a fault of the disk.
            self._rollback()
            raise
        except sqlite3.Error as error:
            self._rollback()
            raise self._reads.fault(error) from None
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                self._rollback()
                raise self._reads.fault(error) from None

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _refuse_if_readonly(self) -> None:
        if self.readonly:
            raise StoreUnwritable(
                f"the database {self.path} was opened read-only (a reading command); "
                "this is a bug if you see it"
            )

    def _reader(self) -> Sql:
        return self._reads

    def size_bytes(self) -> int:
        page_count = self._reads.execute("PRAGMA page_count").fetchone()
        page_size = self._reads.execute("PRAGMA page_size").fetchone()
        return int(page_count[0] * page_size[0]) if page_count and page_size else 0


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    try:
        _set_wal(connection)
        connection.execute("PRAGMA synchronous = NORMAL")
        # Keep the WAL small while a daemon holds the database open: checkpoint every 100
        # pages (SQLite's default, 1000, leaves a 4 MB -wal file beside a 60 KB database),
        # and shrink it back after a large transaction such as a big fan-out.
        connection.execute("PRAGMA wal_autocheckpoint = 100")
        connection.execute("PRAGMA journal_size_limit = 1048576")
        _tune(connection)
        if faults.verification_due(path):
            if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("database disk image is malformed")
            faults.mark_verified(path)
        _migrate(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def _tune(connection: sqlite3.Connection) -> None:
    # A daemon's working set is a few pages (source and service rows, the outbox index);
    # SQLite's default 2 MB page cache would slowly fill with cold history instead.
    connection.execute("PRAGMA cache_size = -512")
    connection.execute("PRAGMA foreign_keys = ON")


def _set_wal(connection: sqlite3.Connection, wait: float = 5.0) -> None:
    """Switching a new file to WAL needs it to itself, and SQLite does not always wait
    for that (its busy handler is skipped for this step): processes starting together
    on an empty state directory retry here instead of failing."""
    deadline = time.monotonic() + wait
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if not faults.is_locked(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """DESIGN §5: a reader opens the file read-only (`mode=ro`), or, where SQLite cannot
    set up WAL's shared memory without writing (no -shm file and a folder this user cannot
    write), as an immutable file: it then sees what was checkpointed, which is everything
    once the last writer has closed. No database yet: an empty one in memory."""
    if not path.exists():
        return _empty_in_memory()
    uri = "file:" + quote(str(path.resolve()))
    connection: sqlite3.Connection | None = None
    for extra in ("?mode=ro", "?mode=ro&immutable=1"):
        try:
            connection = sqlite3.connect(uri + extra, uri=True, timeout=5.0, isolation_level=None)
            connection.execute("PRAGMA query_only = ON")
            _tune(connection)
            quick = connection.execute("PRAGMA quick_check").fetchone()[0]
            break
        except sqlite3.DatabaseError as error:
            if connection is not None:
                connection.close()
                connection = None
            if faults.is_corrupt(error):
                raise faults.corrupt_for_reader(path) from None
            if faults.is_locked(error) or extra.endswith("immutable=1"):
                raise faults.translate(error, path) from None
    assert connection is not None
    if quick != "ok":
        connection.close()
        raise faults.corrupt_for_reader(path)
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:  # created but never migrated (a writer died at once): nothing in it
        connection.close()
        return _empty_in_memory()
    if version != SCHEMA_VERSION:
        connection.close()
        newer = version > SCHEMA_VERSION
        raise StoreUnwritable(
            f"the database {path} has schema {version} and this statuswatch knows "
            f"{SCHEMA_VERSION}; "
            + (
                "upgrade statuswatch to read it"
                if newer
                else "run `statuswatch check` once (it migrates) and try again"
            )
        )
    return connection


def _empty_in_memory() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    _migrate(connection)
    connection.execute("PRAGMA query_only = ON")
    return connection


def _migrate(connection: sqlite3.Connection) -> None:
    """Apply every schema step above the file's `user_version`, in one transaction.

    `user_version` is read again *inside* BEGIN IMMEDIATE: processes starting at once on
    an empty directory all see 0 at first, and only the first to hold the write lock may
    create the tables; the others then find them there (DESIGN §5)."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return  # the common case, without taking the write lock
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreUnwritable(
                f"the database was written by a newer statuswatch (schema {version}, this "
                f"one knows {SCHEMA_VERSION}); upgrade statuswatch or use another state_dir"
            )
        for step in range(version, SCHEMA_VERSION):
            for statement in _SCHEMA[step].split(";"):
                if statement.strip():
                    connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        if connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
