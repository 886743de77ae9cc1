"""DESIGN §5: the default store, an embedded SQLite database (WAL) under the state
directory. This module holds only what is SQLite's own: opening, the schema and its
migrations, transactions, the poll-cycle file lock and error translation; the jobs
(tracking, history, outbox, validators) are shared with PostgreSQL through `Store`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from statuswatch.store.errors import StoreError, StoreLocked, StoreUnwritable
from statuswatch.store.interface import Store
from statuswatch.store.sql import Cursor, Sql

log = logging.getLogger("statuswatch.store")

DB_NAME = "statuswatch.db"
LOCK_NAME = "statuswatch.lock"
SCHEMA_VERSION = 1

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
        self.location = str(state_dir)
        self.readonly = readonly
        self._db = connection
        self._reads = _Reader(connection, self.path)

    # -- opening -----------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: Path, *, readonly: bool = False) -> SqliteStore:
        """Open (creating, migrating, or replacing a corrupt file) the database; or, with
        `readonly`, only read it."""
        if readonly:
            return cls(state_dir, _connect_readonly(state_dir / DB_NAME), readonly=True)
        _ensure_dir(state_dir)
        path = state_dir / DB_NAME
        _ensure_writable(path)
        try:
            connection = _connect(path)
        except sqlite3.DatabaseError as error:
            if _is_locked(error):
                raise StoreLocked(
                    f"the database {path} is locked by another process; try again shortly"
                ) from None
            if not _is_corrupt(error):
                raise _translate(error, path) from None
            aside = _move_aside(path)
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
                raise _translate(again, path) from None
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

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Sql]:
        """BEGIN IMMEDIATE ... COMMIT. Every sqlite error on the way (a full disk, a
        read-only file, an I/O error) comes out as one StoreError sentence; SQLite may
        already have rolled the transaction back itself (after SQLITE_FULL, say), so we
        roll back only what is still open."""
        self._refuse_if_readonly()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise _translate(error, self.path) from None
        try:
            yield self._db
        except sqlite3.IntegrityError:
            # A constraint broken by our own SQL is a bug (exit 70), not a fault of the disk.
            self._rollback()
            raise
        except sqlite3.Error as error:
            self._rollback()
            raise _translate(error, self.path) from None
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                self._rollback()
                raise _translate(error, self.path) from None

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


class _Rows:
    """Rows fetched at once, so an error of the disk surfaces inside `execute`."""

    def __init__(self, rows: list[Sequence[Any]], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Sequence[Any] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Sequence[Any]]:
        return list(self.rows)

    def __iter__(self) -> Iterator[Sequence[Any]]:
        return iter(self.rows)


class _Reader:
    """`_reader()`: reads outside a transaction, their sqlite errors translated."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path

    def execute(self, query: str, params: Sequence[Any] = ()) -> Cursor:
        try:
            cursor = self.connection.execute(query, params)
            return _Rows(cursor.fetchall(), cursor.rowcount)
        except sqlite3.Error as error:
            raise _translate(error, self.path) from None

    def executemany(self, query: str, params: Iterable[Sequence[Any]]) -> Any:
        try:
            return self.connection.executemany(query, params)
        except sqlite3.Error as error:
            raise _translate(error, self.path) from None


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


def _ensure_writable(path: Path) -> None:
    """A database file this user cannot write (mode 0444, another owner): SQLite would
    quietly open it read-only and fail at the first write; say so before anything."""
    if path.exists() and not os.access(path, os.W_OK):
        try:
            info = path.stat()
            owner = _owner(info.st_uid)
            detail = f" (owner {owner}, mode {info.st_mode & 0o777:04o})"
        except OSError:
            detail = ""
        raise StoreUnwritable(
            f"the database {path} is read-only for this user{detail}; make it writable "
            "(chown/chmod) or run statuswatch as the user that owns it"
        )


def _owner(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


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
        if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("database disk image is malformed")
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
            if not _is_locked(error) or time.monotonic() >= deadline:
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
            if _is_corrupt(error):
                raise _corrupt_for_reader(path) from None
            if _is_locked(error) or extra.endswith("immutable=1"):
                raise _translate(error, path) from None
    assert connection is not None
    if quick != "ok":
        connection.close()
        raise _corrupt_for_reader(path)
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


def _corrupt_for_reader(path: Path) -> StoreError:
    return StoreError(
        f"the database {path} is corrupt; the next `statuswatch check` (or `run`) moves it "
        "aside and starts a new one (reading commands leave it as it is)"
    )


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


def _is_corrupt(error: sqlite3.DatabaseError) -> bool:
    text = str(error).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _is_locked(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def _translate(error: sqlite3.Error, path: Path) -> StoreError:
    """One sentence per kind of fault (DESIGN §5, §9: 73, or 75 for a lock)."""
    text = str(error).lower()
    code = getattr(error, "sqlite_errorcode", None)
    if _is_locked(error):
        return StoreLocked(f"the database {path} stayed locked by another process; try again")
    if "full" in text or code == sqlite3.SQLITE_FULL or _disk_is_full(path, text):
        return StoreUnwritable(
            f"the disk holding {path} is full; nothing of this run was recorded and "
            "nothing recorded before was lost: free some space and run again"
        )
    if "readonly" in text or "read-only" in text:
        return StoreUnwritable(
            f"the database {path} is read-only for this user (or on a read-only file "
            "system); make it writable or run as its owner"
        )
    if _is_corrupt(error):  # type: ignore[arg-type]
        return StoreError(
            f"the database {path} is corrupt; the next `statuswatch check` moves it aside "
            "and starts a new one"
        )
    if "disk i/o" in text or "unable to open" in text:
        return StoreUnwritable(f"cannot read or write the database {path} ({error})")
    return StoreError(f"the database {path} failed: {error}")


def _disk_is_full(path: Path, text: str) -> bool:
    """SQLite reports a -shm file it could not grow as a plain "disk I/O error"."""
    if "disk i/o" not in text:
        return False
    try:
        return shutil.disk_usage(path.parent).free < 64 * 1024
    except OSError:
        return False


def _move_aside(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        path.rename(aside)
        for suffix in ("-wal", "-shm"):
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                companion.rename(aside.with_name(aside.name + suffix))
    except OSError as error:
        raise StoreUnwritable(
            f"the database {path} is corrupt and cannot be moved aside "
            f"({error.strerror or errno.errorcode.get(error.errno or 0, error)}); "
            "move it away yourself and run again"
        ) from None
    return aside
