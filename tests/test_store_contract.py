"""One contract for every store backend (DESIGN §4, §5): each test runs on SQLite and on a
real PostgreSQL (tests/pgcluster.py), through the `Store` interface only."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from statuswatch.model import Kind, State, Transition
from statuswatch.sources.http import Validators
from statuswatch.store import (
    FeedCache,
    OutboxEntry,
    PolicyEntry,
    SqliteStore,
    Store,
    StoreLocked,
    body_hash,
)
from statuswatch.tracker import ServiceTrack, SourceHealth, SourceTrack
from tests.builders import MAINTENANCE_EVENT, STORED_AT, track, transition

T0 = STORED_AT
EVENT = MAINTENANCE_EVENT

Opener = Callable[..., Store]


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens (another connection to) one fresh store of the backend under test."""
    opened: list[Store] = []
    if request.param == "sqlite":

        def open_one(keep: bool = True) -> Store:
            store = SqliteStore.open(tmp_path / "state")
            if keep:
                opened.append(store)
            return store
    else:
        dsn = request.getfixturevalue("pg_dsn")
        from statuswatch.store.postgres import PostgresStore

        def open_one(keep: bool = True) -> Store:
            store = PostgresStore.open(dsn)
            if keep:
                opened.append(store)
            return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> Store:
    return opener()


_track = track


def _transition(at: datetime = T0, service: str = "iCloud Backup") -> Transition:
    # The contract's transitions carry Apple's page, as the monitor's do.
    return transition(
        at=at, service=service, redirect_url="https://www.apple.com/support/systemstatus/"
    )


def _queue(store: Store, count: int = 1, at: datetime = T0) -> list[int]:
    entries = [OutboxEntry(f"sub{i}", f"key{i}", f"json://127.0.0.1/{i}") for i in range(count)]
    store.record_poll(
        "apple", at, SourceTrack(), _track(State.AVAILABLE), [_transition(at)], [entries]
    )
    return [row.id for row in store.outbox_rows(("pending",))]


# -- tracking and history ----------------------------------------------------------------


def test_empty_store_has_nothing(store: Store) -> None:
    assert store.load_track("apple") == SourceTrack()
    assert store.service_states() == []
    assert store.source_statuses() == {}
    assert store.transitions() == []
    assert store.outbox_counts() == {
        "pending": 0,
        "sending": 0,
        "dead": 0,
        "sent": 0,
        "silenced": 0,
    }
    assert store.next_due() is None
    assert store.load_feed_cache("apple") == FeedCache()


def test_track_and_source_health_round_trip(store: Store) -> None:
    track = _track(State.MAINTENANCE)
    track = track._replace(
        services={
            **track.services,
            "mail": ServiceTrack(
                service="Mail",
                state=None,
                candidate=State.OUTAGE,
                candidate_since=T0,
                streak=2,
            ),
        },
        health=SourceHealth(last_success=T0, first_failure=None, down=False),
    )
    store.record_poll("apple", T0, SourceTrack(), track, [], [], error=None)
    assert store.load_track("apple") == track
    assert sorted(t.service for _, t in store.service_states()) == ["Mail", "iCloud Backup"]
    status = store.source_statuses()["apple"]
    assert (status.last_poll, status.last_success, status.down) == (T0, T0, False)
    later = T0 + timedelta(minutes=5)
    down = track._replace(health=SourceHealth(last_success=T0, first_failure=later, down=True))
    store.record_poll("apple", later, track, down, [], [], error="HTTP 503")
    status = store.source_statuses()["apple"]
    assert (status.last_error, status.down) == ("HTTP 503", True)
    assert store.load_track("apple").health.first_failure == later


def test_transitions_get_ids_and_filter_by_time_and_service(store: Store) -> None:
    first = store.record_poll(
        "apple", T0, SourceTrack(), _track(State.AVAILABLE), [_transition(T0)], [[]]
    )
    later = T0 + timedelta(hours=1)
    second = store.record_poll(
        "apple",
        later,
        SourceTrack(),
        _track(State.AVAILABLE),
        [_transition(later, service="Mail")],
        [[]],
    )
    assert first[0].id is not None and second[0].id is not None
    assert first[0].id < second[0].id
    assert store.transitions() == [first[0], second[0]]
    assert store.transitions(since=later) == [second[0]]
    assert store.transitions(service=" mail ") == [second[0]]
    assert store.transitions(limit=1) == [first[0]]


def test_planned_keys_are_remembered_then_forgotten(store: Store) -> None:
    old = SourceTrack(announced=frozenset({"icloud backup\x1f1"}))
    store.record_poll("apple", T0, SourceTrack(), old, [], [])
    assert store.load_track("apple").announced == old.announced
    later = T0 + timedelta(days=200)
    newer = old._replace(announced=frozenset({"icloud backup\x1f1", "icloud backup\x1f2"}))
    store.record_poll("apple", later, old, newer, [], [])
    assert store.load_track("apple").announced == frozenset({"icloud backup\x1f2"})


def test_feed_cache_round_trips_and_can_be_forgotten(store: Store) -> None:
    body = b'{"services": []}' * 50
    feed = FeedCache(
        Validators(etag='"abc"', last_modified="Sat, 21 Jun 2025"), body_hash(body), body
    )
    store.record_poll("apple", T0, SourceTrack(), _track(State.AVAILABLE), [], [], feed=feed)
    assert store.load_feed_cache("apple") == feed
    store.forget_validators("apple")
    assert store.load_feed_cache("apple") == FeedCache()


def test_a_failed_outbox_insert_rolls_back_the_whole_poll(store: Store) -> None:
    broken = [OutboxEntry("family", None, "label")]  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own driver error
        store.record_poll(
            "apple", T0, SourceTrack(), _track(State.AVAILABLE), [_transition()], [broken]
        )
    assert store.transitions() == []
    assert store.load_track("apple").services == {}
    assert store.source_statuses() == {}


def test_size_is_reported(store: Store) -> None:
    assert store.size_bytes() > 0


# -- the outbox (DESIGN §4) -----------------------------------------------------------------


def test_outbox_rows_join_their_transition(store: Store) -> None:
    [row_id] = _queue(store)
    [row] = store.outbox_rows()
    assert (row.id, row.subscriber, row.status, row.attempts) == (row_id, "sub0", "pending", 0)
    assert row.transition.kind == Kind.RECOVERED and row.transition.event == EVENT
    assert row.created_at == row.next_attempt_at == T0
    assert store.outbox_rows(due_before=T0 - timedelta(seconds=1)) == []
    assert store.next_due() == T0


def test_outbox_row_reads_one_row_whatever_its_status(store: Store) -> None:
    [row_id] = _queue(store)
    assert store.outbox_row(row_id) == store.outbox_rows()[0]
    store.mark_sent([row_id], T0)
    sent = store.outbox_row(row_id)
    assert sent is not None and (sent.status, sent.sent_at) == ("sent", T0)
    assert store.outbox_row(row_id + 1) is None


def test_only_one_claim_wins_then_a_stale_claim_is_reclaimed(opener: Opener) -> None:
    first, second = opener(), opener()
    [row_id] = _queue(first)
    assert first.claim(row_id, T0, "one", stale_after=300) is True
    assert second.claim(row_id, T0 + timedelta(seconds=10), "two", stale_after=300) is False
    [row] = first.outbox_rows(("sending",))
    # The claim says when it goes stale, so next_due() wakes a deliverer then.
    assert row.next_attempt_at == T0 + timedelta(seconds=300)
    assert second.claim(row_id, T0 + timedelta(seconds=301), "two", stale_after=300) is True
    assert first.claim(row_id, T0 + timedelta(seconds=302), "one", stale_after=300) is False


def test_concurrent_claims_give_every_row_exactly_one_owner(opener: Opener) -> None:
    first = opener()
    row_ids = _queue(first, count=60)
    wins: list[tuple[int, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def race(index: int) -> None:
        mine = opener(keep=False)  # in its own thread: a SQLite connection stays in it
        try:
            start.wait()
            for row_id in row_ids:
                if mine.claim(row_id, T0, f"node{index}"):
                    with lock:
                        wins.append((row_id, index))
        finally:
            mine.close()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    owners = Counter(row_id for row_id, _ in wins)
    assert sorted(owners) == sorted(row_ids)
    assert set(owners.values()) == {1}
    assert first.outbox_counts()["sending"] == len(row_ids)


def test_claim_many_gives_every_row_exactly_one_owner(opener: Opener) -> None:
    """The batched claim of a fan-out: the same compare-and-set per row as claim()."""
    first = opener()
    row_ids = _queue(first, count=1_200)  # more than one chunk
    taken = row_ids[:5]
    assert all(first.claim(row_id, T0, "other") for row_id in taken)
    wins: list[tuple[int, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(3)

    def race(index: int) -> None:
        mine = opener(keep=False)
        try:
            start.wait()
            won = mine.claim_many(row_ids, T0, f"node{index}")
            with lock:
                wins.extend((row_id, index) for row_id in won)
        finally:
            mine.close()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    owners = Counter(row_id for row_id, _ in wins)
    assert sorted(owners) == sorted(row_ids[5:])
    assert set(owners.values()) == {1}
    assert first.outbox_counts()["sending"] == len(row_ids)
    # Stale claims are won again, as with claim().
    later = T0 + timedelta(seconds=301)
    assert sorted(first.claim_many(taken, later, "again", stale_after=300)) == sorted(taken)


def test_sent_rows_are_never_claimed_again(store: Store) -> None:
    [row_id] = _queue(store)
    assert store.claim(row_id, T0, "me")
    store.mark_sent([row_id], T0 + timedelta(seconds=1))
    [row] = store.outbox_rows(("sent",))
    assert (row.attempts, row.sent_at) == (1, T0 + timedelta(seconds=1))
    assert store.claim(row_id, T0 + timedelta(days=1), "me") is False
    assert store.next_due() is None
    assert store.outbox_counts()["sent"] == 1


def test_failed_rows_back_off_then_die_and_can_be_retried_or_dropped(store: Store) -> None:
    [row_id, other] = _queue(store, count=2)
    assert store.claim(row_id, T0, "me")
    store.mark_failed([row_id], "HTTP 500", T0 + timedelta(seconds=30), T0)
    row = next(r for r in store.outbox_rows() if r.id == row_id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    assert store.claim(row_id, T0, "me")
    store.mark_failed([row_id], "HTTP 500", None, T0)
    assert next(r for r in store.outbox_rows() if r.id == row_id).status == "dead"
    assert store.claim(row_id, T0 + timedelta(days=1), "me") is False
    assert store.retry(row_id, T0 + timedelta(hours=1)) == 1
    row = next(r for r in store.outbox_rows() if r.id == row_id)
    assert (row.status, row.next_attempt_at) == ("pending", T0 + timedelta(hours=1))
    assert store.retry(None, T0) == 2
    assert store.drop(other) == 1
    assert store.drop(other) == 0
    assert [r.id for r in store.outbox_rows()] == [row_id]


def test_released_rows_are_due_again_at_once(store: Store) -> None:
    [row_id] = _queue(store)
    assert store.claim(row_id, T0 + timedelta(seconds=5), "me", stale_after=300)
    store.release([row_id])
    [row] = store.outbox_rows()
    assert (row.status, row.next_attempt_at) == ("pending", T0 + timedelta(seconds=5))
    assert store.claim(row_id, T0 + timedelta(seconds=6), "other")


def test_a_dead_claimers_row_is_released_only_while_that_claimer_holds_it(
    opener: Opener,
) -> None:
    first, second = opener(), opener()
    one, two = _queue(first, 2)
    assert first.claim(one, T0, "host:1:100") and first.claim(two, T0, "host:2:200")
    assert second.sending_claims() == {one: "host:1:100", two: "host:2:200"}
    assert second.release_claim(one, "host:1:100") is True
    assert first.release_claim(one, "host:1:100") is False  # someone moved it already
    assert second.release_claim(two, "host:9:999") is False  # not that claimer's
    assert first.sending_claims() == {two: "host:2:200"}
    [row] = [r for r in first.outbox_rows(("pending",)) if r.id == one]
    assert row.next_attempt_at == T0  # due at once
    assert second.claim(one, T0 + timedelta(seconds=1), "host:3:300")


def test_row_status_and_dead_rows_per_subscriber(store: Store) -> None:
    ids = _queue(store, 3)
    assert store.outbox_status(ids[0]) == "pending" and store.outbox_status(99999) is None
    assert store.dead_by_subscriber() == {}
    for row_id in ids[:2]:
        assert store.claim(row_id, T0, "me")
        store.mark_failed([row_id], "boom", None, T0)
    assert store.claim(ids[2], T0, "me")
    store.mark_sent([ids[2]], T0)
    assert store.dead_by_subscriber() == {"sub0": 1, "sub1": 1}
    assert [store.outbox_status(i) for i in ids] == ["dead", "dead", "sent"]
    store.retry(ids[0], T0)
    assert store.drop(ids[1]) == 1
    assert store.dead_by_subscriber() == {}


def test_a_sending_row_cannot_be_dropped_or_retried(store: Store) -> None:
    [row_id] = _queue(store)
    assert store.claim(row_id, T0, "me")
    assert store.drop(row_id) == 0
    assert store.retry(row_id, T0) == 0
    assert store.outbox_counts()["sending"] == 1


# -- locks -------------------------------------------------------------------------------


def test_cycle_lock_is_exclusive_between_processes(opener: Opener) -> None:
    first, second = opener(), opener()
    with first.cycle_lock(), pytest.raises(StoreLocked), second.cycle_lock(wait=0.2):
        pass
    with second.cycle_lock(wait=0.2):
        pass


def test_writes_made_inside_a_cycle_are_kept(opener: Opener) -> None:
    first, second = opener(), opener()
    with first.cycle_lock():
        first.record_poll(
            "apple", T0, SourceTrack(), _track(State.AVAILABLE), [_transition()], [[]]
        )
    assert len(second.transitions()) == 1


# -- policies (DESIGN §4a) ---------------------------------------------------------------


def _policy(key: str, subscriber: str = "sub0") -> PolicyEntry:
    reminder = replace(_transition(), kind=Kind.REMINDER, to_state=State.MAINTENANCE)
    return PolicyEntry(key, subscriber, "key0", "json://127.0.0.1/0", reminder, {"period": 2})


def test_a_policy_message_is_queued_once_per_key_from_any_connection(opener: Opener) -> None:
    first, second = opener(), opener()
    assert first.queue_policy([_policy("reminder:a"), _policy("reminder:b")], T0) == 2
    assert second.queue_policy([_policy("reminder:a")], T0 + timedelta(minutes=1)) == 0
    rows = second.outbox_rows(("pending",))
    assert [(row.kind, row.policy_key, row.extra) for row in rows] == [
        ("reminder", "reminder:a", {"period": 2}),
        ("reminder", "reminder:b", {"period": 2}),
    ]
    assert rows[0].transition.service == "iCloud Backup"
    assert rows[0].transition.event == EVENT
    # Dropping the row does not let the same key be queued again.
    assert second.drop(rows[0].id) == 1
    assert first.queue_policy([_policy("reminder:a")], T0) == 0
    assert first.policy_keys_with_prefix("reminder:") == {"reminder:a", "reminder:b"}
    # Keys are forgotten after 90 days (a queued one sweeps the old ones).
    assert first.queue_policy([_policy("reminder:c")], T0 + timedelta(days=91)) == 1
    assert first.policy_keys_with_prefix("reminder:") == {"reminder:c"}


def test_held_rows_wait_and_silenced_rows_are_kept_but_never_due(store: Store) -> None:
    held, muted = _queue(store, count=2)
    assert store.claim(held, T0, "me") and store.claim(muted, T0, "me")
    until = T0 + timedelta(hours=8)
    store.hold([held], until)
    silence = store.add_silence(
        service="iCloud Backup",
        subscriber=None,
        kind=None,
        starts_at=T0,
        ends_at=T0 + timedelta(hours=2),
        comment="known",
        created_at=T0,
        created_by="test",
    )
    store.mark_silenced([muted], silence, T0)
    assert store.outbox_rows(("pending",), due_before=T0 + timedelta(hours=1)) == []
    (row,) = store.outbox_rows(("pending",), due_before=until)
    assert (row.id, row.held_until) == (held, until)
    (quiet,) = store.outbox_rows(("silenced",))
    assert (quiet.id, quiet.silence_id) == (muted, silence)
    assert store.outbox_counts()["silenced"] == 1
    assert store.next_due() == until


def test_silences_are_listed_active_then_expired(store: Store) -> None:
    ids = [
        store.add_silence(
            service=None,
            subscriber="sub0",
            kind=kind,
            starts_at=T0,
            ends_at=T0 + timedelta(hours=2),
            comment=None,
            created_at=T0,
            created_by=None,
        )
        for kind in ("outage", "maintenance")
    ]
    assert [s.id for s in store.active_silences(T0 + timedelta(minutes=5))] == ids
    assert store.active_silences(T0 - timedelta(minutes=5)) == []
    assert store.expire_silence(ids[0], T0 + timedelta(minutes=10))
    assert not store.expire_silence(ids[0], T0 + timedelta(minutes=11))
    assert not store.expire_silence(999, T0)
    later = T0 + timedelta(minutes=20)
    assert [s.id for s in store.active_silences(later)] == [ids[1]]
    listed = store.silences(later)
    assert [(s.id, s.active(later)) for s in listed] == [(ids[0], False), (ids[1], True)]
    assert store.silences(T0 + timedelta(days=30)) == []
