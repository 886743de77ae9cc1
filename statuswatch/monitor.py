"""One poll cycle: fetch -> evaluate -> track -> store -> deliver (DESIGN §6).

Shared by `statuswatch check` (one cycle per process) and `statuswatch run` (one cycle
per source per interval). The caller holds the store's cycle lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from statuswatch.clock import Clock
from statuswatch.describe import describe_transition
from statuswatch.evaluate import Evaluator
from statuswatch.model import Observation, Poll, Snapshot, Transition, to_epoch_ms
from statuswatch.notify.recipients import Recipients
from statuswatch.sources.apple import (
    STATUS_PAGES,
    AppleSource,
    FeedFormatError,
    FeedParser,
    FetchError,
    feed_url,
)
from statuswatch.sources.http import display_url
from statuswatch.store import FeedCache, PolicyEntry, Store, body_hash
from statuswatch.tracker import SourceTrack, TrackerSettings, advance, service_key

if TYPE_CHECKING:
    import httpx

    from statuswatch.config import Settings, SourceConfig
    from statuswatch.notify.deliver import DeliveryReport

log = logging.getLogger("statuswatch.monitor")


def status_pages(settings: Settings) -> dict[str, str]:
    """Source name -> the status page its messages link to (notify never looks it up in
    a source module: DESIGN §6)."""
    return {source.name: STATUS_PAGES[source.feed] for source in settings.sources}


def build_source(config: SourceConfig) -> AppleSource:
    url = config.url or feed_url(config.feed, config.locale)
    return AppleSource(name=config.name, url=url, status_page=STATUS_PAGES[config.feed])


@dataclass(slots=True)
class SourceOutcome:
    """What one poll of one source found, for the CLI and the daemon's status line."""

    config: SourceConfig
    at: datetime
    ok: bool
    error: str | None = None
    retry_after: float | None = None
    observations: tuple[Observation, ...] = ()
    transitions: list[Transition] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "'X' is not in the feed (did you mean…)"
    track: SourceTrack | None = None
    changed: tuple[Observation, ...] | None = None  # see Evaluator and Poll.changed
    evaluation: int = 0  # which Evaluator call made `observations`


@dataclass(slots=True)
class _Incremental:
    """Per source, across polls: what lets a poll do only the work of what changed."""

    evaluator: Evaluator
    parser: FeedParser = field(default_factory=FeedParser)
    digest: str | None = None  # of the body `snapshot` was parsed from
    snapshot: Snapshot | None = None
    evaluations: int = 0
    tracked: int = -1  # the evaluation whose observations `after` was advanced with
    after: SourceTrack | None = None  # the track the last record() wrote


@dataclass(slots=True)
class CycleReport:
    at: datetime
    sources: list[SourceOutcome]
    deliveries: DeliveryReport | None = None
    heartbeat: str | None = None  # the warning, when the heartbeat failed
    given_up: dict[str, int] = field(default_factory=dict)  # subscriber -> dead rows

    @property
    def transitions(self) -> list[Transition]:
        return [t for outcome in self.sources for t in outcome.transitions]


class Monitor:
    """Runs poll cycles against one store. Keeps only the last parsed snapshot per source."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        client: httpx.AsyncClient,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.clock = clock
        self.recipients = Recipients(settings)
        # True for `check` and `outbox retry`, which print one summary line per problem.
        self.summarised = False
        self._incremental: dict[tuple[str, tuple[str, ...] | None], _Incremental] = {}
        # A changed body and its validators wait here until record() writes them with the
        # poll, so a crash in between cannot leave validators that skip an unseen change.
        self._pending_feed: dict[str, FeedCache] = {}

    async def run_cycle(self, deliver: bool = True) -> CycleReport:
        """Poll every source (fetches run concurrently), record, then deliver what is due."""
        at = self.clock()
        outcomes = await asyncio.gather(
            *(self.fetch_and_parse(source, at) for source in self.settings.sources)
        )
        recorded = [self.record(outcome) for outcome in outcomes]
        report = CycleReport(at=at, sources=recorded)
        if deliver:
            report.deliveries = await self.deliver_due()
        report.heartbeat = await self.heartbeat(all(outcome.ok for outcome in recorded))
        return report

    async def heartbeat(self, ok: bool) -> str | None:
        """DESIGN §4a: ping `[heartbeat]` after a cycle; a failure is only a warning."""
        config = getattr(self.settings, "heartbeat", None)
        if config is None:
            return None
        from statuswatch.notify.heartbeat import ping

        return await ping(self.client, config, ok)

    async def poll_source(self, source: SourceConfig) -> SourceOutcome:
        """One poll of one source, recorded (the daemon's per-source job)."""
        return self.record(await self.fetch_and_parse(source, self.clock()))

    async def fetch_and_parse(self, config: SourceConfig, at: datetime) -> SourceOutcome:
        source = build_source(config)
        cache = self.store.load_feed_cache(config.name)
        validators = cache.validators if cache.body is not None else FeedCache().validators
        try:
            result = await source.fetch(
                self.client,
                validators,
                timeout=self.settings.timeout,
                max_bytes=self.settings.max_body_bytes,
                retries=self.settings.fetch_retries,
            )
        except FetchError as error:
            return SourceOutcome(
                config, at, ok=False, error=str(error), retry_after=error.retry_after
            )
        body = result.body if result.body is not None else cache.body
        if body is None:
            return SourceOutcome(
                config,
                at,
                ok=False,
                error=f"{display_url(source.url)} answered 304 Not Modified to a request "
                "that had nothing cached; the server is misbehaving",
            )
        # A 304: the stored body's hash is known; nothing to hash, decompress or parse again.
        digest = cache.body_hash if result.not_modified and cache.body_hash else body_hash(body)
        memory = self._memory(config)
        try:
            snapshot = self._parse(memory, digest, body)
        except FeedFormatError as error:
            if result.not_modified:
                self.store.forget_validators(config.name)
            where = display_url(source.url)
            return SourceOutcome(
                config, at, ok=False, error=f"the feed at {where} is unusable: {error}"
            )
        outcome = SourceOutcome(config, at, ok=True, warnings=list(snapshot.warnings))
        outcome.observations, outcome.changed = memory.evaluator.observe(snapshot, to_epoch_ms(at))
        memory.evaluations += 1
        outcome.evaluation = memory.evaluations
        outcome.missing = _missing_services(config, snapshot)
        if digest != cache.body_hash or result.validators != cache.validators:
            outcome_feed = FeedCache(validators=result.validators, body_hash=digest, body=body)
            self._pending_feed[config.name] = outcome_feed
            if digest != cache.body_hash:
                self._archive(config.name, at, body)
        return outcome

    def record(self, outcome: SourceOutcome) -> SourceOutcome:
        """Track the poll and write it, with its outbox rows, in one transaction."""
        name = outcome.config.name
        before = self.store.load_track(name)
        memory = self._memory(outcome.config)
        # Poll.changed holds only if `before` is what the previous evaluation was tracked
        # into (the store hands back the very object it wrote while nobody else wrote).
        follows = memory.after is before and memory.tracked == outcome.evaluation - 1
        poll = Poll(
            source=name,
            at=outcome.at,
            ok=outcome.ok,
            observations=outcome.observations,
            error=outcome.error,
            changed=outcome.changed if outcome.ok and follows else None,
        )
        settings = TrackerSettings(
            confirm=self.settings.confirm, stale_after=timedelta(seconds=self.settings.stale_after)
        )
        after, transitions = advance(before, poll, settings)
        deliveries = [self.recipients.entries_for(t) for t in transitions]
        outcome.transitions = self.store.record_poll(
            name,
            outcome.at,
            before,
            after,
            transitions,
            deliveries,
            error=outcome.error,
            feed=self._pending_feed.pop(name, None),
        )
        outcome.track = after
        memory.after = after
        if outcome.ok:
            memory.tracked = outcome.evaluation
        if outcome.ok:
            self.queue_policies(outcome, after)
        for warning in outcome.warnings:
            log.warning("%s: %s", name, warning)
        for transition in outcome.transitions:
            log.info("%s", describe_transition(transition))
        return outcome

    def queue_policies(self, outcome: SourceOutcome, track: SourceTrack) -> int:
        """DESIGN §4a `starting` and `reminder` messages due after this poll, queued at
        most once per (subscriber, target, policy, event/offset or period) key."""
        subscribers = [
            s
            for s in self.settings.subscribers
            if getattr(s, "remind_before", None)
            or getattr(s, "repeat_every", None)
            or getattr(self.settings, "remind_before", None)
            or getattr(self.settings, "repeat_every", None)
        ]
        if not subscribers:
            return 0
        from statuswatch.notify.policy import due_reminders, due_starting, policy_of

        name, now = outcome.config.name, outcome.at
        states = {
            o.service: t.state
            for o in outcome.observations
            for t in [track.services.get(service_key(o.service))]
            if t is not None and t.state is not None
        }
        redirects = {o.service: o.redirect_url for o in outcome.observations}
        watched = [
            t for t in track.services.values() if t.service in redirects and t.state is not None
        ]
        first_seen: dict[str, datetime] | None = None
        entries: list[PolicyEntry] = []
        for subscriber in subscribers:
            policy = policy_of(subscriber, self.settings)
            due = []
            if policy.remind_before:
                if first_seen is None:
                    first_seen = self.store.planned_first_seen(name)
                due += due_starting(
                    subscriber.name, policy, name, outcome.observations, states, first_seen, now
                )
            if policy.repeat_every:
                due += due_reminders(subscriber.name, policy, name, watched, redirects, now)
            for item in due:
                if not subscriber.wants(str(item.kind), item.transition.service):
                    continue
                entries.extend(
                    PolicyEntry(
                        item.key_for(target.key),
                        subscriber.name,
                        target.key,
                        target.label,
                        item.transition,
                        item.extra,
                    )
                    for target in self.recipients.targets(subscriber.name)
                )
        queued = self.store.queue_policy(entries, now) if entries else 0
        if queued:
            log.info("%s: queued %d reminder message(s)", name, queued)
        return queued

    async def deliver_due(self, only: Collection[int] | None = None) -> DeliveryReport | None:
        """Deliver outbox rows that are due. Imports apprise only when there are some.

        First gives back at once the rows claimed by processes of this host that died
        (notify/claims.py), so they are due now instead of after their claim's timeout.
        """
        next_due = self.store.next_due()
        if next_due is None:
            # No row pending or sending (a claimed row counts as waiting for its claim to
            # go stale): nothing to give back either. The daemon's poll ends here.
            return None
        from statuswatch.notify.claims import release_orphans

        if release_orphans(self.store):
            next_due = self.store.next_due()
            if next_due is None:
                return None
        if next_due > self.clock():
            # Nothing to send yet, but rows wait for their back-off: `check` must say so
            # (exit 75), still without importing apprise.
            from statuswatch.notify.deliver import DeliveryReport

            return DeliveryReport.waiting_in(self.store)
        from statuswatch.notify.deliver import Deliverer

        # self.settings may be a settings_view (cached, validated settings): delivery reads
        # attributes only, so it needs no pydantic either.
        deliverer = Deliverer(
            self.settings,
            self.store,
            self.clock,
            self.recipients,
            status_pages=status_pages(self.settings),
            summarised=self.summarised,
        )
        return await deliverer.deliver_due(only)

    def _memory(self, config: SourceConfig) -> _Incremental:
        watched = config.watched
        key = (config.name, None if watched is None else tuple(watched))
        memory = self._incremental.get(key)
        if memory is None:
            memory = self._incremental[key] = _Incremental(Evaluator(watched))
        return memory

    def _parse(self, memory: _Incremental, digest: str, body: bytes) -> Snapshot:
        if memory.snapshot is not None and memory.digest == digest:
            return memory.snapshot
        snapshot = memory.parser.parse(body)
        memory.digest, memory.snapshot = digest, snapshot
        return snapshot

    def _archive(self, source: str, at: datetime, body: bytes) -> None:
        """Keep each changed body as `<archive_dir>/<source>/<time>.json`, replayable later."""
        if self.settings.archive_dir is None:
            return
        folder = Path(self.settings.archive_dir).expanduser() / source
        name = at.strftime("%Y-%m-%dT%H-%M-%SZ") + ".json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(body)
        except OSError as error:
            log.warning("could not archive the feed body to %s: %s", folder, error.strerror)


def _missing_services(config: SourceConfig, snapshot: Snapshot) -> list[str]:
    """Watched names absent from a valid snapshot, with a suggestion for near misses."""
    if config.watched is None:
        return []
    names = [service.name for service in snapshot.services]
    by_fold = {name.casefold(): name for name in names}
    problems = []
    for wanted in config.watched:
        if wanted.casefold() in by_fold:
            continue
        import difflib  # only for a name that is missing: not on every `check`

        close = difflib.get_close_matches(wanted.casefold(), list(by_fold), n=1, cutoff=0.6)
        hint = (
            f"; did you mean {by_fold[close[0]]!r}?"
            if close
            else ("; `statuswatch services` lists the names")
        )
        problems.append(
            f"{wanted!r} is not a service in the {config.name} feed ({config.feed}){hint}"
        )
    return problems


def missing_names(outcomes: Sequence[SourceOutcome]) -> list[str]:
    return [problem for outcome in outcomes for problem in outcome.missing]
