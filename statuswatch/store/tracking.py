"""Tracker state per service, source health, announced planned events, and the one
transaction that records a poll with its transitions and outbox rows (DESIGN §4).

The database grows with transitions, not with polls: a poll that changes nothing only
updates its source's row in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from statuswatch.model import State, Transition
from statuswatch.store.backend import UNDECODABLE, Backend
from statuswatch.store.history import insert_transition
from statuswatch.store.outbox import queue_rows
from statuswatch.store.records import (
    FeedCache,
    OutboxEntry,
    SourceStatus,
    dt,
    event_from_text,
    event_to_text,
    ts,
)
from statuswatch.store.sql import Sql
from statuswatch.store.validators import write_feed_cache
from statuswatch.tracker import ServiceTrack, SourceHealth, SourceTrack

PLANNED_MEMORY_SECONDS = 180 * 86400  # how long an announced planned event is remembered


def _write_service(db: Sql, source: str, key: str, track: ServiceTrack) -> None:
    db.execute(
        "INSERT INTO service_state (source, service_key, service, state, since,"
        " cause, candidate, candidate_since, streak) VALUES (?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (source, service_key) DO UPDATE SET service = excluded.service,"
        " state = excluded.state, since = excluded.since, cause = excluded.cause,"
        " candidate = excluded.candidate, candidate_since = excluded.candidate_since,"
        " streak = excluded.streak",
        (
            source,
            key,
            track.service,
            None if track.state is None else str(track.state),
            ts(track.since),
            event_to_text(track.cause),
            None if track.candidate is None else str(track.candidate),
            ts(track.candidate_since),
            track.streak,
        ),
    )


def _write_source(
    db: Sql, source: str, at: datetime, health: SourceHealth, error: str | None
) -> None:
    db.execute(
        "INSERT INTO source_state (source, last_poll, last_success, first_failure, down,"
        " last_error) VALUES (?,?,?,?,?,?) ON CONFLICT (source) DO UPDATE SET"
        " last_poll = excluded.last_poll, last_success = excluded.last_success,"
        " first_failure = excluded.first_failure, down = excluded.down,"
        " last_error = excluded.last_error",
        (
            source,
            ts(at),
            ts(health.last_success),
            ts(health.first_failure),
            int(health.down),
            error,
        ),
    )


class TrackingMixin(Backend):
    def load_track(self, source: str) -> SourceTrack:
        counter = self.change_counter()
        remembered = self._memo.get(("track", source))
        if remembered is not None and remembered[0] == counter:
            return remembered[1]  # type: ignore[return-value]
        db = self._reader()
        services = {}
        for row in db.execute(
            "SELECT service_key, service, state, since, cause, candidate, candidate_since,"
            " streak FROM service_state WHERE source = ?",
            (source,),
        ):
            key, service, state, since, cause, candidate, candidate_since, streak = row
            try:
                services[key] = ServiceTrack(
                    service=service,
                    state=None if state is None else State(state),
                    since=dt(since),
                    cause=event_from_text(cause),
                    candidate=None if candidate is None else State(candidate),
                    candidate_since=dt(candidate_since),
                    streak=int(streak),
                )
            except UNDECODABLE as error:
                # Treated as never seen: the next poll writes a good row over it.
                self._undecodable(f"the tracked state of {source}/{service}", error)
        health = SourceHealth()
        row = db.execute(
            "SELECT last_success, first_failure, down FROM source_state WHERE source = ?",
            (source,),
        ).fetchone()
        if row is not None:
            try:
                health = SourceHealth(
                    last_success=dt(row[0]), first_failure=dt(row[1]), down=bool(int(row[2]))
                )
            except UNDECODABLE as error:
                # As if never polled: the next poll writes a good row over it.
                self._undecodable(f"the poll record of source {source}", error)
        announced = frozenset(
            key for (key,) in db.execute("SELECT key FROM planned_seen WHERE source = ?", (source,))
        )
        track = SourceTrack(services=services, health=health, announced=announced)
        if counter is not None:
            self._memo[("track", source)] = (counter, track)
        return track

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
        """Write one poll's outcome in ONE transaction (DESIGN §4 persistent outbox).

        `deliveries[i]` are the outbox rows for `transitions[i]`. Returns the transitions
        with their database ids. Only services whose tracked state changed are written.
        """
        stored: list[Transition] = []
        feed_known = self._memo.get(("feed", source))
        with self.transaction() as db:
            # Read under the write lock: every other commit came before it and none can
            # come before ours, so what we write is the database at this counter.
            counter = self.change_counter()
            _write_source(db, source, at, after.health, error)
            if feed is not None:
                write_feed_cache(db, source, feed)
            for key, track in after.services.items():
                old = before.services.get(key)
                if old is not track and old != track:  # `is`: most are the very same
                    _write_service(db, source, key, track)
            announced = after.announced - before.announced
            for key in announced:
                db.execute(
                    "INSERT INTO planned_seen (source, key, first_seen) VALUES (?,?,?)"
                    " ON CONFLICT (source, key) DO NOTHING",
                    (source, key, ts(at)),
                )
            if announced:
                # Apple lists an event for days, not months: older keys cannot come back.
                db.execute(
                    "DELETE FROM planned_seen WHERE source = ? AND first_seen < ?",
                    (source, ts(at) - PLANNED_MEMORY_SECONDS),  # type: ignore[operator]
                )
            for transition, entries in zip(transitions, deliveries, strict=True):
                transition_id = insert_transition(db, transition)
                stored.append(replace(transition, id=transition_id))
                queue_rows(db, transition_id, entries, at)
        # Keep what was written, for the next poll's reads (they compare the counter: a
        # commit by another connection after ours moves it, and they read the database).
        if counter is not None:
            if not announced:  # else old keys may have been forgotten: read them again
                self._memo[("track", source)] = (counter, after)
            if feed is not None:
                self._memo[("feed", source)] = (counter, feed)
            elif feed_known is not None and feed_known[0] == counter:
                self._memo[("feed", source)] = feed_known
        return stored

    def service_states(self) -> list[tuple[str, ServiceTrack]]:
        rows = self._reader().execute("SELECT DISTINCT source FROM service_state ORDER BY source")
        result = []
        for (source,) in rows.fetchall():
            track = self.load_track(source)
            result.extend((source, service) for service in track.services.values())
        return result

    def source_statuses(self) -> dict[str, SourceStatus]:
        statuses: dict[str, SourceStatus] = {}
        for row in self._reader().execute(
            "SELECT source, last_poll, last_success, last_error, down FROM source_state"
        ):
            try:
                statuses[row[0]] = SourceStatus(
                    row[0], dt(row[1]), dt(row[2]), row[3], bool(int(row[4]))
                )
            except UNDECODABLE as error:
                self._undecodable(f"the poll record of source {row[0]}", error)
        return statuses
