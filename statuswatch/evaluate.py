"""DESIGN §2: from a snapshot's events to a state per service. Pure: no I/O, no clock."""

from __future__ import annotations

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
