"""SQLite's faults, in one place: translating every sqlite error into one sentence
(DESIGN §5, §9: exit 73, or 75 for a lock), checking that the state directory and the
database file can be written before anything is tried, reads whose errors are
translated too, verifying the whole file once a day, and moving a corrupt file aside
(writers only).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from statuswatch.store.errors import StoreError, StoreLocked, StoreUnwritable
from statuswatch.store.sql import Cursor, FetchedRows


class Reader:
    """`_reader()`: reads outside a transaction, their sqlite errors translated. A writer's
    reader also forgets the last verification when it meets a corrupt page."""

    def __init__(self, connection: sqlite3.Connection, path: Path, *, writer: bool) -> None:
        self.connection = connection
        self.path = path
        self.writer = writer

    def execute(self, query: str, params: Sequence[Any] = ()) -> Cursor:
        try:
            cursor = self.connection.execute(query, params)
            return FetchedRows(cursor.fetchall(), cursor.rowcount)
        except sqlite3.Error as error:
            raise self.fault(error) from None

    def executemany(self, query: str, params: Iterable[Sequence[Any]]) -> Any:
        try:
            return self.connection.executemany(query, params)
        except sqlite3.Error as error:
            raise self.fault(error) from None

    def fault(self, error: sqlite3.Error) -> StoreError:
        if self.writer and is_corrupt(error):  # type: ignore[arg-type]
            forget_verification(self.path)  # so the next writer checks the whole file
        return translate(error, self.path)


# -- verifying the whole file, once a day ------------------------------------------------

#: `PRAGMA quick_check` reads every page: 27 ms for a 13 MB database (20,000 transitions
#: with 3 targets each), and a `check` started every minute paid it on every open. A
#: writer runs it when the last pass is older than this, when the file is not the one that
#: passed, or after a corrupt page was met; SQLite itself reports the pages it reads.
VERIFY_EVERY = 24 * 3600.0
VERIFIED_SUFFIX = ".verified"


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + VERIFIED_SUFFIX)


def _identity(path: Path) -> str:
    info = path.stat()
    return f"{info.st_dev}:{info.st_ino}"


def verification_due(path: Path) -> bool:
    """True unless this very file passed quick_check within VERIFY_EVERY."""
    marker = _verified_marker(path)
    try:
        passed = marker.stat().st_mtime
        same_file = marker.read_text(encoding="ascii").strip() == _identity(path)
    except (OSError, UnicodeDecodeError):
        return True
    age = time.time() - passed
    return not same_file or not 0 <= age < VERIFY_EVERY


def mark_verified(path: Path) -> None:
    """Best effort: where the marker cannot be written, every open verifies, as before."""
    with contextlib.suppress(OSError):
        _verified_marker(path).write_text(_identity(path) + "\n", encoding="ascii")


def forget_verification(path: Path) -> None:
    with contextlib.suppress(OSError):
        _verified_marker(path).unlink(missing_ok=True)


def ensure_dir(state_dir: Path) -> None:
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


def ensure_writable(path: Path) -> None:
    """A database file this user cannot write (mode 0444, another owner): SQLite would
    quietly open it read-only and fail at the first write; say so before anything."""
    if path.exists() and not os.access(path, os.W_OK):
        try:
            info = path.stat()
            who = owner(info.st_uid)
            detail = f" (owner {who}, mode {info.st_mode & 0o777:04o})"
        except OSError:
            detail = ""
        raise StoreUnwritable(
            f"the database {path} is read-only for this user{detail}; make it writable "
            "(chown/chmod) or run statuswatch as the user that owns it"
        )


def owner(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def corrupt_for_reader(path: Path) -> StoreError:
    return StoreError(
        f"the database {path} is corrupt; the next `statuswatch check` (or `run`) moves it "
        "aside and starts a new one (reading commands leave it as it is)"
    )


def is_corrupt(error: sqlite3.DatabaseError) -> bool:
    text = str(error).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def is_locked(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def translate(error: sqlite3.Error, path: Path) -> StoreError:
    """One sentence per kind of fault (DESIGN §5, §9: 73, or 75 for a lock)."""
    text = str(error).lower()
    code = getattr(error, "sqlite_errorcode", None)
    if is_locked(error):
        return StoreLocked(f"the database {path} stayed locked by another process; try again")
    if "full" in text or code == sqlite3.SQLITE_FULL or disk_is_full(path, text):
        return StoreUnwritable(
            f"the disk holding {path} is full; nothing of this run was recorded and "
            "nothing recorded before was lost: free some space and run again"
        )
    if "readonly" in text or "read-only" in text:
        return StoreUnwritable(
            f"the database {path} is read-only for this user (or on a read-only file "
            "system); make it writable or run as its owner"
        )
    if is_corrupt(error):  # type: ignore[arg-type]
        return StoreError(
            f"the database {path} is corrupt; the next `statuswatch check` moves it aside "
            "and starts a new one"
        )
    if "disk i/o" in text or "unable to open" in text:
        return StoreUnwritable(f"cannot read or write the database {path} ({error})")
    return StoreError(f"the database {path} failed: {error}")


def disk_is_full(path: Path, text: str) -> bool:
    """SQLite reports a -shm file it could not grow as a plain "disk I/O error"."""
    if "disk i/o" not in text:
        return False
    try:
        return shutil.disk_usage(path.parent).free < 64 * 1024
    except OSError:
        return False


def move_aside(path: Path) -> Path:
    forget_verification(path)
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
