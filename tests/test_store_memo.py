"""The SQLite store hands back what it last wrote without reading it again, only while no
other connection has committed (PRAGMA data_version); every other write forgets it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from statuswatch.model import State
from statuswatch.sources.http import Validators
from statuswatch.store import FeedCache, SqliteStore, body_hash
from statuswatch.tracker import SourceTrack
from tests.test_store import T0, _track
from tests.test_store_contract import _queue

FEED = FeedCache(Validators(etag='"a"'), body_hash(b'{"services": []}'), b'{"services": []}')


def test_what_was_written_is_handed_back_until_another_process_writes(tmp_path: Path) -> None:
    mine, other = SqliteStore.open(tmp_path), SqliteStore.open(tmp_path)
    try:
        written = _track(State.MAINTENANCE)
        mine.record_poll("apple", T0, SourceTrack(), written, [], [], feed=FEED)
        assert mine.load_track("apple") is written  # no read of the database
        assert mine.load_feed_cache("apple") is FEED
        # Another process (a manual `check`) records a poll: read it, not the memory.
        theirs = _track(State.AVAILABLE, T0 + timedelta(minutes=5))
        other_feed = FeedCache(
            Validators(etag='"b"'), body_hash(b'{"services": [1]}'), b'{"services": [1]}'
        )
        other.record_poll("apple", T0, other.load_track("apple"), theirs, [], [], feed=other_feed)
        loaded = mine.load_track("apple")
        assert loaded is not written
        assert loaded.services["icloud backup"].state == State.AVAILABLE
        assert mine.load_feed_cache("apple") == other_feed
    finally:
        mine.close()
        other.close()


def test_a_poll_without_a_new_body_keeps_the_body_known(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path)
    try:
        first = _track(State.AVAILABLE)
        store.record_poll("apple", T0, SourceTrack(), first, [], [], feed=FEED)
        second = _track(State.AVAILABLE, T0 + timedelta(minutes=1))
        store.record_poll("apple", T0, first, second, [], [])  # a 304
        assert store.load_feed_cache("apple") is FEED
        assert store.load_track("apple") is second
    finally:
        store.close()


def test_any_other_write_forgets(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path)
    try:
        written = _track(State.AVAILABLE)
        store.record_poll("apple", T0, SourceTrack(), written, [], [], feed=FEED)
        store.forget_validators("apple")
        assert store.load_feed_cache("apple").body is None
        assert store.load_track("apple") == written
    finally:
        store.close()


def test_outbox_counts_are_counted_again_only_after_a_write(tmp_path: Path) -> None:
    mine, other = SqliteStore.open(tmp_path), SqliteStore.open(tmp_path)
    statements: list[str] = []
    mine._db.set_trace_callback(statements.append)
    try:
        _queue(mine)
        assert mine.outbox_counts()["pending"] == 1
        counted = [s for s in statements if "GROUP BY status" in s]
        assert mine.outbox_counts()["pending"] == 1
        assert [s for s in statements if "GROUP BY status" in s] == counted  # not again
        # A write through this store (the row sent) and one by another process (a new
        # row) are both counted.
        [row_id] = [row.id for row in mine.outbox_rows(("pending",))]
        mine.mark_sent([row_id], T0)
        counts = mine.outbox_counts()
        assert (counts["pending"], counts["sent"]) == (0, 1)
        _queue(other, at=T0 + timedelta(minutes=1))
        assert (mine.outbox_counts()["pending"], mine.outbox_counts()["sent"]) == (1, 1)
        # What a caller does with the answer does not change the next one.
        mine.outbox_counts()["pending"] = 99
        assert mine.outbox_counts()["pending"] == 1
    finally:
        mine.close()
        other.close()
