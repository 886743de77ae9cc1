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
from datetime import UTC, datetime
from pathlib import Path

from statuswatch.store.errors import StoreError, StoreLocked, StoreUnwritable
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
    """One SQLite database. Every write is a short transaction; see `cycle_lock()`."""

    def __init__(self, state_dir: Path, connection: sqlite3.Connection) -> None:
        self.state_dir = state_dir
        self.path = state_dir / DB_NAME
        self.location = str(state_dir)
        self._db = connection

    # -- opening -----------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: Path) -> SqliteStore:
        """Open (creating, migrating, or replacing a corrupt file) the database."""
        _ensure_dir(state_dir)
        path = state_dir / DB_NAME
        try:
            connection = _connect(path)
        except sqlite3.DatabaseError as error:
            if _is_locked(error):
                raise StoreLocked(
                    f"the database {path} is locked by another process; try again shortly"
                ) from None
            if not _is_corrupt(error):
                raise StoreUnwritable(f"cannot open the database {path}: {error}") from None
            aside = _move_aside(path)
            log.warning(
                "the database %s was corrupt (%s); moved it to %s and started a new one: "
                "stored states and pending notifications in it are not used",
                path,
                error,
                aside.name,
            )
            connection = _connect(path)
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
        lock_path = self.state_dir / LOCK_NAME
        try:
            handle = open(lock_path, "a+b")  # noqa: SIM115 - held for the whole cycle
        except OSError as error:
            raise StoreUnwritable(
                f"cannot create the lock file {lock_path}: {error.strerror}"
            ) from None
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
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
            handle.close()

    def change_counter(self) -> int | None:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Sql]:
        self._memo.clear()  # record_poll() puts back what it knows it wrote
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise _translate(error, self.path) from None
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as error:
                self._db.execute("ROLLBACK")
                raise _translate(error, self.path) from None

    def _reader(self) -> Sql:
        return self._db

    def size_bytes(self) -> int:
        page_count = self._db.execute("PRAGMA page_count").fetchone()[0]
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return int(page_count * page_size)


def _ensure_dir(state_dir: Path) -> None:
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise StoreUnwritable(
            f"cannot create the state directory {state_dir}: {error.strerror}; "
            "set state_dir (or STATUSWATCH_STATE_DIR) to a folder this user can write"
        ) from None
    if not os.access(state_dir, os.W_OK | os.X_OK):
        raise StoreUnwritable(
            f"the state directory {state_dir} is not writable by this user; "
            "fix its permissions or set state_dir (or STATUSWATCH_STATE_DIR) elsewhere"
        )


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        # Keep the WAL small while a daemon holds the database open: checkpoint every 100
        # pages (SQLite's default, 1000, leaves a 4 MB -wal file beside a 60 KB database),
        # and shrink it back after a large transaction such as a big fan-out.
        connection.execute("PRAGMA wal_autocheckpoint = 100")
        connection.execute("PRAGMA journal_size_limit = 1048576")
        # A daemon's working set is a few pages (source and service rows, the outbox index);
        # SQLite's default 2 MB page cache would slowly fill with cold history instead.
        connection.execute("PRAGMA cache_size = -512")
        connection.execute("PRAGMA foreign_keys = ON")
        if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("database disk image is malformed")
        _migrate(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def _migrate(connection: sqlite3.Connection) -> None:
    """Apply every schema step above the file's `user_version`, each in one transaction."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreUnwritable(
            f"the database was written by a newer statuswatch (schema {version}, this one "
            f"knows {SCHEMA_VERSION}); upgrade statuswatch or use another state_dir"
        )
    for step in range(version, SCHEMA_VERSION):
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA[step].split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {step + 1}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


def _is_corrupt(error: sqlite3.DatabaseError) -> bool:
    text = str(error).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _is_locked(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def _translate(error: sqlite3.OperationalError, path: Path) -> StoreError:
    if _is_locked(error):
        return StoreLocked(f"the database {path} stayed locked by another process; try again")
    if "readonly" in str(error).lower() or "read-only" in str(error).lower():
        return StoreUnwritable(f"the database {path} is read-only for this user")
    return StoreError(f"the database {path} failed: {error}")


def _move_aside(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.rename(aside)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(aside.with_name(aside.name + suffix))
    return aside
