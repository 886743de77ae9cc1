"""DESIGN §2: from a snapshot's events to a state per service. Pure: no I/O, no clock."""

from __future__ import annotations

import operator
from collections.abc import Iterable

from statuswatch.model import Event, Observation, Service, Snapshot, State

NEVER_ACTIVE = frozenset({"resolved", "completed", "cancelled", "canceled"})
TIME_WINDOWED = frozenset({"upcoming", "scheduled"})

STATE_OF_STATUS_TYPE = {
    "outage": State.OUTAGE,
    "issue": State.ISSUE,
    "performance": State.PERFORMANCE,
    "maintenance": State.MAINTENANCE,
}


def _word(value: str) -> str:
    return value.strip().lower()


def _in_window(event: Event, t_ms: int) -> bool:
    """DESIGN §2: an event with no start epoch can never satisfy a time window."""
    if event.epoch_start_ms is None or event.epoch_start_ms > t_ms:
        return False
    return event.epoch_end_ms is None or t_ms < event.epoch_end_ms


def is_active(event: Event, t_ms: int) -> bool:
    """DESIGN §2 rules 1-3: ongoing; or upcoming/scheduled/unknown word inside its window."""
    status = _word(event.event_status)
    if status == "ongoing":
        return True
    if status in NEVER_ACTIVE:
        return False
    return _in_window(event, t_ms)


def is_planned(event: Event, t_ms: int) -> bool:
    """DESIGN §2: an upcoming/scheduled event whose (known) start is after `t`."""
    return (
        _word(event.event_status) in TIME_WINDOWED
        and event.epoch_start_ms is not None
        and event.epoch_start_ms > t_ms
    )


def state_of(event: Event) -> State:
    """`Outage`→outage … `Maintenance`→maintenance; any other word counts as an issue."""
    return STATE_OF_STATUS_TYPE.get(_word(event.status_type), State.ISSUE)


def observe_service(service: Service, t_ms: int) -> Observation:
    """The most severe active event decides the state; none active means available.

    Ties keep the event listed first, so the cause is stable from poll to poll.
    """
    active = tuple(event for event in service.events if is_active(event, t_ms))
    planned = tuple(event for event in service.events if is_planned(event, t_ms))
    cause = max(active, key=lambda event: state_of(event).severity, default=None)
    return Observation(
        service=service.name,
        state=State.AVAILABLE if cause is None else state_of(cause),
        cause=cause,
        active=active,
        planned=planned,
        listed=service.events,
        redirect_url=service.redirect_url,
    )


def observe(
    snapshot: Snapshot, watched: Iterable[str] | None, t_ms: int
) -> tuple[Observation, ...]:
    """Observations for the watched names (or every service when `watched` is None).

    Names match case-insensitively and the observation carries the feed's own spelling.
    DESIGN §2: a watched service missing from a valid snapshot is `unknown`.
    """
    if watched is None:
        return tuple(observe_service(service, t_ms) for service in snapshot.services)
    services = {service.name.casefold(): service for service in snapshot.services}
    observations = []
    for name in watched:
        service = services.get(name.strip().casefold())
        if service is None:
            observations.append(Observation(service=name, state=State.UNKNOWN))
        else:
            observations.append(observe_service(service, t_ms))
    return tuple(observations)


def _horizon(service: Service, t_ms: int) -> int | None:
    """The next instant after `t_ms` at which any event of `service` may start or stop
    being active or planned (None: never, as far as its epochs say)."""
    horizon: int | None = None
    for event in service.events:
        status = _word(event.event_status)
        if status == "ongoing" or status in NEVER_ACTIVE:
            continue
        for edge in (event.epoch_start_ms, event.epoch_end_ms):
            if edge is not None and edge > t_ms and (horizon is None or edge < horizon):
                horizon = edge
    return horizon


class Evaluator:
    """`observe()` for one source, snapshot after snapshot, doing work only where
    something changed: a service is evaluated again when its Service object is not the
    one seen last time (sources.apple.FeedParser reuses unchanged ones) or when one of its
    time windows opened or closed since. Time must not go backwards between calls; if it
    does, everything is evaluated again.

    Returns every observation (as observe() would) and, separately, those that differ
    from the previous call's: what tracker.advance() needs to look at (Poll.changed).
    """

    def __init__(self, watched: Iterable[str] | None) -> None:
        self.watched = None if watched is None else list(watched)
        self._last_t: int | None = None
        # By position: the Service evaluated (None: missing), until when its observation
        # holds (None: for ever), and that observation.
        self._services: list[Service | None] = []
        self._until: list[int | None] = []
        self._observations: list[Observation] = []
        self._next_edge: int | None = None  # the earliest of _until
        self._result: tuple[Observation, ...] = ()

    def observe(
        self, snapshot: Snapshot, t_ms: int
    ) -> tuple[tuple[Observation, ...], tuple[Observation, ...]]:
        services: list[Service | None]
        if self.watched is None:
            services, names = list(snapshot.services), None
        else:
            by_fold = {service.name.casefold(): service for service in snapshot.services}
            names = self.watched
            services = [by_fold.get(name.strip().casefold()) for name in names]
        previous = self._services
        if len(services) != len(previous) or (self._last_t is not None and t_ms < self._last_t):
            todo = list(range(len(services)))
            self._services = [None] * len(services)
            self._until = [None] * len(services)
            self._observations = [_MISSING] * len(services)
        else:
            todo = [i for i, same in enumerate(map(operator.is_, services, previous)) if not same]
            edge = self._next_edge
            if edge is not None and t_ms >= edge:
                todo = sorted(
                    set(todo)
                    | {i for i, u in enumerate(self._until) if u is not None and t_ms >= u}
                )
        self._last_t = t_ms
        changed: list[Observation] = []
        for index in todo:
            service = services[index]
            if service is None:
                assert names is not None
                observation = Observation(service=names[index], state=State.UNKNOWN)
                until = None
            else:
                observation = observe_service(service, t_ms)
                until = _horizon(service, t_ms)
            old = self._observations[index]
            if old == observation:
                observation = old  # the same: nothing for the tracker to do
            else:
                changed.append(observation)
            self._services[index] = service
            self._until[index] = until
            self._observations[index] = observation
        if todo:
            edges = [u for u in self._until if u is not None]
            self._next_edge = min(edges) if edges else None
        if changed or len(self._result) != len(self._observations):
            self._result = tuple(self._observations)
        # The very same tuple when nothing changed: callers may key caches on it.
        return self._result, tuple(changed)


_MISSING = Observation(service="", state=State.UNKNOWN)
