"""The whole-file check (`PRAGMA quick_check`) of a SQLite store runs once a day, not on
every open (statuswatch/store/sqlite_faults.py): it reads every page, which made a `check`
started every minute pay for all of the history ever recorded. It still runs on the first
open of a file, when another file is put in its place, after a day, and on the open after a
writer met a corrupt page; what it finds is moved aside as before."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from statuswatch.model import State
from statuswatch.store import DB_NAME, OutboxEntry, SqliteStore, StoreError
from statuswatch.store import sqlite_faults as faults
from statuswatch.tracker import SourceTrack
from tests.builders import STORED_AT, track, transition

A_DAY_AGO = time.time() - faults.VERIFY_EVERY - 60


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement the store's connections run, in order."""
    seen: list[str] = []
    real = sqlite3.connect

    def connect(*args: object, **options: object) -> sqlite3.Connection:
        connection = real(*args, **options)  # type: ignore[arg-type]
        connection.set_trace_callback(seen.append)
        return connection

    monkeypatch.setattr(sqlite3, "connect", connect)
    yield seen


def quick_checks(seen: list[str]) -> int:
    return sum("quick_check" in statement for statement in seen)


def marker(state: Path) -> Path:
    return state / (DB_NAME + faults.VERIFIED_SUFFIX)


def test_a_writer_verifies_the_whole_file_once_a_day(tmp_path: Path, statements: list[str]) -> None:
    state = tmp_path / "state"
    SqliteStore.open(state).close()
    assert quick_checks(statements) == 1  # a new file
    SqliteStore.open(state).close()
    SqliteStore.open(state).close()
    assert quick_checks(statements) == 1  # it passed less than a day ago
    os.utime(marker(state), (A_DAY_AGO, A_DAY_AGO))
    SqliteStore.open(state).close()
    assert quick_checks(statements) == 2


def test_another_file_in_its_place_is_verified(tmp_path: Path, statements: list[str]) -> None:
    state = tmp_path / "state"
    SqliteStore.open(state).close()
    restored = state / "backup.db"
    shutil.copy(state / DB_NAME, restored)
    restored.replace(state / DB_NAME)  # a restore from a backup: the same bytes, a new file
    SqliteStore.open(state).close()
    assert quick_checks(statements) == 2


def test_a_clock_set_back_does_not_skip_it(tmp_path: Path, statements: list[str]) -> None:
    state = tmp_path / "state"
    SqliteStore.open(state).close()
    tomorrow = time.time() + 86400
    os.utime(marker(state), (tomorrow, tomorrow))
    SqliteStore.open(state).close()
    assert quick_checks(statements) == 2


def test_a_corrupt_page_met_by_a_writer_makes_the_next_open_verify(
    tmp_path: Path, statements: list[str]
) -> None:
    state = tmp_path / "state"
    store = SqliteStore.open(state)
    fault = store._reads.fault(sqlite3.DatabaseError("database disk image is malformed"))
    assert isinstance(fault, StoreError)
    assert "is corrupt; the next `statuswatch check` moves it aside" in str(fault)
    store.close()
    assert not marker(state).exists()
    SqliteStore.open(state).close()
    assert quick_checks(statements) == 2


def test_a_reader_leaves_the_marker_alone(tmp_path: Path) -> None:
    state = tmp_path / "state"
    SqliteStore.open(state).close()
    before = marker(state).read_bytes()
    reader = SqliteStore.open(state, readonly=True)
    reader._reads.fault(sqlite3.DatabaseError("database disk image is malformed"))
    reader.close()
    assert marker(state).read_bytes() == before


def test_a_corrupt_page_of_old_history_is_found_by_the_daily_check(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = SqliteStore.open(state)
    before, at = SourceTrack(), STORED_AT
    entries = [OutboxEntry("me", f"target-{n}", f"label {n}") for n in range(3)]
    for step in range(1500):
        at += timedelta(minutes=10)
        after = track(State.OUTAGE if step % 2 else State.AVAILABLE)
        store.record_poll("apple", at, before, after, [transition(at=at)], [entries])
        before = after
    store.close()
    database = state / DB_NAME
    pages = database.stat().st_size // 4096
    with database.open("r+b") as file:  # a page in the middle: history no poll reads
        file.seek(pages // 2 * 4096)
        file.write(b"\xa5" * 4096)

    opened = SqliteStore.open(state)  # verified less than a day ago: not read again
    assert opened.load_track("apple").services["icloud backup"].state == State.OUTAGE
    opened.close()
    assert not list(state.glob(f"{DB_NAME}.corrupt-*"))

    os.utime(marker(state), (A_DAY_AGO, A_DAY_AGO))
    SqliteStore.open(state).close()
    assert len(list(state.glob(f"{DB_NAME}.corrupt-*"))) == 1
