"""store.py directly: schema, what a poll writes, the outbox's claims, corrupt files."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from statuswatch.model import Kind, State, Transition
from statuswatch.store import (
    DB_NAME,
    SCHEMA_VERSION,
    OutboxEntry,
    SqliteStore,
    Store,
    StoreLocked,
    StoreUnwritable,
)
from statuswatch.tracker import SourceHealth, SourceTrack
from tests.builders import MAINTENANCE_EVENT, STORED_AT, track, transition

T0 = STORED_AT
EVENT = MAINTENANCE_EVENT
_track = track


def _transition(at: datetime = T0) -> Transition:
    return transition(at=at)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = SqliteStore.open(tmp_path / "state")
    yield opened
    opened.close()


def _changes(store: Store) -> int:
    return store._db.total_changes


def test_new_database_is_at_current_schema_in_wal_mode(store: Store) -> None:
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_track_round_trips_through_the_database(store: Store) -> None:
    track = _track(State.MAINTENANCE)
    store.record_poll("apple", T0, SourceTrack(), track, [], [])
    loaded = store.load_track("apple")
    assert loaded.services == track.services
    assert loaded.health.last_success == T0


def test_unchanged_poll_writes_only_the_source_row(store: Store) -> None:
    track = _track(State.AVAILABLE)
    store.record_poll("apple", T0, SourceTrack(), track, [], [])
    before = _changes(store)
    later = T0 + timedelta(minutes=5)
    health = SourceHealth(last_success=later)
    store.record_poll("apple", later, track, track._replace(health=health), [], [])
    # One UPDATE of source_state (last poll/success), nothing for the unchanged service.
    assert _changes(store) - before == 1


def test_database_does_not_grow_with_unchanged_polls(store: Store) -> None:
    track = _track(State.AVAILABLE)
    store.record_poll("apple", T0, SourceTrack(), track, [], [])
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = store.size_bytes()
    for minute in range(1, 500):
        at = T0 + timedelta(minutes=minute)
        store.record_poll(
            "apple", at, track, track._replace(health=SourceHealth(last_success=at)), [], []
        )
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert store.size_bytes() == size


def test_transition_and_its_outbox_rows_are_written_together(store: Store) -> None:
    entries = [OutboxEntry("family", "key1", "json://127.0.0.1/****")]
    stored = store.record_poll(
        "apple", T0, SourceTrack(), _track(State.AVAILABLE), [_transition()], [entries]
    )
    assert stored[0].id is not None
    rows = store.outbox_rows(("pending",))
    assert [(row.subscriber, row.transition.kind, row.transition.event) for row in rows] == [
        ("family", Kind.RECOVERED, EVENT)
    ]


def test_failed_outbox_insert_rolls_back_the_transition(store: Store) -> None:
    broken = [OutboxEntry("family", None, "label")]  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        store.record_poll(
            "apple", T0, SourceTrack(), _track(State.AVAILABLE), [_transition()], [broken]
        )
    assert store.transitions() == []
    assert store.load_track("apple").services == {}


def test_only_one_claim_wins(tmp_path: Path) -> None:
    first = SqliteStore.open(tmp_path / "state")
    second = SqliteStore.open(tmp_path / "state")
    entries = [OutboxEntry("family", "key1", "label")]
    first.record_poll(
        "apple", T0, SourceTrack(), _track(State.AVAILABLE), [_transition()], [entries]
    )
    row_id = first.outbox_rows()[0].id
    assert first.claim(row_id, T0, "one") is True
    assert second.claim(row_id, T0, "two") is False
    # A claim left by a dead process becomes claimable once it is stale.
    assert second.claim(row_id, T0 + timedelta(minutes=10), "two", stale_after=300) is True
    first.close()
    second.close()


def test_failed_row_goes_back_to_pending_then_dead(store: Store) -> None:
    entries = [OutboxEntry("family", "key1", "label")]
    store.record_poll(
        "apple", T0, SourceTrack(), _track(State.AVAILABLE), [_transition()], [entries]
    )
    row = store.outbox_rows()[0]
    assert store.claim(row.id, T0, "me")
    store.mark_failed([row.id], "HTTP 500", T0 + timedelta(seconds=30), T0)
    row = store.outbox_rows()[0]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    assert store.next_due() == T0 + timedelta(seconds=30)
    assert store.claim(row.id, T0, "me")
    store.mark_failed([row.id], "HTTP 500", None, T0)
    assert store.outbox_rows()[0].status == "dead"
    assert store.next_due() is None
    assert store.retry(None, T0) == 1
    assert store.outbox_rows()[0].status == "pending"


def test_planned_keys_are_forgotten_after_half_a_year(store: Store) -> None:
    old = SourceTrack(announced=frozenset({"icloud backup\x1f1"}))
    store.record_poll("apple", T0, SourceTrack(), old, [], [])
    later = T0 + timedelta(days=200)
    newer = old._replace(announced=frozenset({"icloud backup\x1f1", "icloud backup\x1f2"}))
    store.record_poll("apple", later, old, newer, [], [])
    assert store.load_track("apple").announced == frozenset({"icloud backup\x1f2"})


def test_corrupt_database_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / DB_NAME).write_bytes(b"this is not an sqlite database" * 100)
    opened = SqliteStore.open(state)
    opened.close()
    assert len(list(state.glob(f"{DB_NAME}.corrupt-*"))) == 1
    assert "corrupt" in caplog.text


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    SqliteStore.open(state).close()
    connection = sqlite3.connect(state / DB_NAME)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(StoreUnwritable, match="newer statuswatch"):
        SqliteStore.open(state)


def test_cycle_lock_is_exclusive(store: Store, tmp_path: Path) -> None:
    other = SqliteStore.open(store.state_dir)
    with (
        store.cycle_lock(),
        pytest.raises(StoreLocked, match="another statuswatch check"),
        other.cycle_lock(wait=0.2),
    ):
        pass
    with other.cycle_lock(wait=0.2):
        pass
    other.close()


def test_state_dir_under_a_file_is_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(StoreUnwritable, match="cannot create the state directory"):
        SqliteStore.open(blocker / "state")


def test_a_version_1_database_is_migrated_keeping_its_outbox(tmp_path: Path) -> None:
    import sqlite3

    from statuswatch.store.sqlite import _SCHEMA

    state = tmp_path / "state"
    state.mkdir()
    old = sqlite3.connect(state / "statuswatch.db")
    old.executescript(_SCHEMA[0])
    old.execute(
        "INSERT INTO transitions (id, source, service, kind, from_state, to_state, at)"
        " VALUES (1, 'apple', 'iCloud Backup', 'recovered', 'maintenance', 'available', 1.0)"
    )
    old.execute(
        "INSERT INTO outbox (transition_id, subscriber, target_key, target_label, status,"
        " created_at, next_attempt_at) VALUES (1, 'me', 'k', 'json://x', 'dead', 1.0, 1.0)"
    )
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    store = SqliteStore.open(state)
    try:
        (row,) = store.outbox_rows(("dead",))
        assert (row.subscriber, row.kind, row.policy_key, row.held_until) == (
            "me",
            "recovered",
            None,
            None,
        )
        version = store._db.execute("PRAGMA user_version").fetchone()[0]
        assert version == 2
    finally:
        store.close()


def test_a_stored_feed_body_reads_back_in_a_new_process(tmp_path: Path) -> None:
    """Bodies are stored as fetched and checked against their hash when read back; a row
    that an older statuswatch wrote zlib-compressed still reads back."""
    import zlib

    from statuswatch.sources.http import Validators
    from statuswatch.store import FeedCache, body_hash

    body = b'{"services":[' + b'{"serviceName":"S","events":[]},' * 9000 + b"{}]}"
    feed = FeedCache(Validators(etag='"big"'), body_hash(body), body)
    first = SqliteStore.open(tmp_path / "state")
    first.record_poll("apple", T0, SourceTrack(), _track(State.AVAILABLE), [], [], feed=feed)
    first.close()
    again = SqliteStore.open(tmp_path / "state")
    assert again.load_feed_cache("apple") == feed
    again.close()

    with sqlite3.connect(tmp_path / "state" / DB_NAME) as db:
        db.execute(
            "UPDATE source_state SET body = ?, body_hash = ?",
            (zlib.compress(b"older", 6), body_hash(b"older")),
        )
    db.close()
    older = SqliteStore.open(tmp_path / "state")
    assert older.load_feed_cache("apple").body == b"older"
    older.close()
