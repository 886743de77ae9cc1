"""Everything the web surface shows, read from the store in one go (DESIGN §8).

Only the store's read methods are used: a page view never writes to the database. The
current events come from the feed body the last successful poll stored, evaluated at
that poll's time, so the page says what the daemon saw, not a guess about now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from statuswatch.evaluate import observe
from statuswatch.model import Observation, Snapshot, Transition, to_epoch_ms
from statuswatch.sources.apple import FeedFormatError, parse_feed
from statuswatch.store import SourceStatus, Store
from statuswatch.store.records import LeaderInfo
from statuswatch.tracker import ServiceTrack, service_key
from statuswatch.views import Deliveries, SourceView, watched_rows

if TYPE_CHECKING:
    from statuswatch.config import Settings, SourceConfig

HISTORY_DAYS = 90


@dataclass(frozen=True, slots=True)
class Reading:
    """One consistent look at the store, for one request or one export."""

    at: datetime
    settings: Settings
    sources: list[SourceView]
    transitions: list[Transition]  # the last HISTORY_DAYS days, oldest first
    outbox: dict[str, int]
    leader: bool = True  # this process polls (always, on a store nobody shares)
    leader_info: LeaderInfo | None = None  # who leads a shared store, and since when
    feed_kinds: dict[str, str] = field(default_factory=dict)  # source -> consumer/developer

    @property
    def deliveries(self) -> Deliveries:
        return Deliveries(
            sent=self.outbox.get("sent", 0),
            pending=self.outbox.get("pending", 0) + self.outbox.get("sending", 0),
            dead=self.outbox.get("dead", 0),
        )

    def recent(self, days: float = 7) -> list[Transition]:
        since = self.at - timedelta(days=days)
        return [t for t in self.transitions if t.at >= since]


class SnapshotCache:
    """The last parsed body per source, by hash: parsing Apple's feed costs milliseconds."""

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[str, Snapshot | None]] = {}

    def get(self, source: str, digest: str | None, body: bytes) -> Snapshot | None:
        cached = self._parsed.get(source)
        if cached is not None and digest is not None and cached[0] == digest:
            return cached[1]
        try:
            snapshot: Snapshot | None = parse_feed(body)
        except FeedFormatError:
            snapshot = None
        if digest is not None:
            self._parsed[source] = (digest, snapshot)
        return snapshot


def read(
    store: Store,
    settings: Settings,
    now: datetime,
    cache: SnapshotCache | None = None,
    leader: Callable[[], bool] | None = None,
) -> Reading:
    cache = cache or SnapshotCache()
    statuses = store.source_statuses()
    tracks: dict[str, dict[str, ServiceTrack]] = {}
    for source, track in store.service_states():
        tracks.setdefault(source, {})[service_key(track.service)] = track
    sources = [
        _source_view(store, config, statuses.get(config.name), tracks.get(config.name, {}), cache)
        for config in settings.sources
    ]
    return Reading(
        at=now,
        settings=settings,
        sources=sources,
        transitions=store.transitions(since=now - timedelta(days=HISTORY_DAYS)),
        outbox=store.outbox_counts(),
        leader=True if leader is None else leader(),
        leader_info=store.leader_info() if store.shared else None,
        feed_kinds={config.name: config.feed for config in settings.sources},
    )


def _source_view(
    store: Store,
    config: SourceConfig,
    status: SourceStatus | None,
    tracks: dict[str, ServiceTrack],
    cache: SnapshotCache,
) -> SourceView:
    error: str | None
    observations: tuple[Observation, ...] = ()
    if status is None or status.last_poll is None:
        ok, error = False, "not polled yet"
    elif status.last_error is not None:
        ok, error = False, status.last_error
    else:
        feed = store.load_feed_cache(config.name)
        snapshot = None if feed.body is None else cache.get(config.name, feed.body_hash, feed.body)
        if snapshot is None:
            ok, error = False, "the stored copy of the feed cannot be read"
        else:
            ok, error = True, None
            observations = observe(snapshot, config.watched, to_epoch_ms(status.last_poll))
    return SourceView(
        name=config.name,
        ok=ok,
        error=error,
        rows=watched_rows(config.watched, ok, observations, tracks),
        last_poll=status.last_poll if status else None,
        last_success=status.last_success if status else None,
        down=status.down if status else False,
    )
