"""The tests' one set of sample builders: Apple-shaped JSON feeds, model events, services,
snapshots, observations, polls, tracks and transitions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from statuswatch.model import (
    Event,
    Kind,
    Observation,
    Poll,
    Service,
    Snapshot,
    State,
    Transition,
    to_epoch_ms,
)
from statuswatch.tracker import ServiceTrack, SourceHealth, SourceTrack

T0 = datetime(2025, 6, 14, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
MINUTE_MS = 60_000


def at(minutes: float) -> datetime:
    """T0 plus `minutes`."""
    return T0 + timedelta(minutes=minutes)


def event(
    message_id: str = "1",
    status_type: str = "Issue",
    event_status: str = "ongoing",
    start: int | None = None,
    end: int | None = None,
    **fields: Any,
) -> Event:
    return Event(
        message_id=message_id,
        status_type=status_type,
        event_status=event_status,
        epoch_start_ms=start,
        epoch_end_ms=end,
        **fields,
    )


def timed_event(
    status_type: str = "Maintenance",
    event_status: str = "ongoing",
    message: str = "iCloud Backup is unavailable due to scheduled maintenance.",
    users_affected: str = "Some users are affected",
    start: datetime | None = None,
    end: datetime | None = None,
    message_id: str = "2000004682",
) -> Event:
    """An event with Apple's message text and its window given as datetimes."""
    return Event(
        message_id=message_id,
        status_type=status_type,
        event_status=event_status,
        message=message,
        users_affected=users_affected,
        epoch_start_ms=None if start is None else to_epoch_ms(start),
        epoch_end_ms=None if end is None else to_epoch_ms(end),
    )


def service(name: str, *events: Event, redirect_url: str | None = None) -> Service:
    return Service(name=name, redirect_url=redirect_url, events=tuple(events))


def snapshot(*services: Service) -> Snapshot:
    return Snapshot(services=tuple(services))


def raw_event(
    message_id: str = "2000009999",
    status_type: str = "Issue",
    event_status: str = "ongoing",
    start_ms: int | None = T0_MS,
    end_ms: int | None = None,
    message: str = "Some users are experiencing a problem with this service.",
    affected: list[str] | None = None,
) -> dict[str, Any]:
    """One event in Apple's key order (see SOURCES.md)."""
    return {
        "usersAffected": "Some users are affected",
        "epochStartDate": start_ms,
        "epochEndDate": end_ms,
        "messageId": message_id,
        "statusType": status_type,
        "datePosted": "06/14/2025 05:00 PDT",
        "startDate": "06/14/2025 05:00 PDT",
        "endDate": None,
        "affectedServices": affected,
        "eventStatus": event_status,
        "message": message,
    }


def raw_feed(services: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "drpost": False,
        "drMessage": None,
        "services": [
            {"redirectUrl": None, "serviceName": name, "events": events}
            for name, events in services.items()
        ],
    }


def feed_bytes(document: Any, *, jsonp: bool = False) -> bytes:
    text = json.dumps(document, separators=(",", ":"))
    if jsonp:
        text = f"jsonCallback({text});"
    return text.encode()


def obs(
    name: str, state: State, planned: Iterable[Event] = (), cause: Event | None = None
) -> Observation:
    return Observation(service=name, state=state, cause=cause, planned=tuple(planned))


def poll(when: datetime, *observations: Observation, source: str = "apple") -> Poll:
    return Poll(source=source, at=when, ok=True, observations=observations)


def failed(when: datetime, source: str = "apple") -> Poll:
    return Poll(source=source, at=when, ok=False, error="boom")


# -- what the tracker and the store keep -------------------------------------------------

# A recorded moment and the maintenance event the store tests recover from.
STORED_AT = datetime(2025, 6, 19, 17, 45, 29, tzinfo=UTC)
MAINTENANCE_EVENT = Event(message_id="900001", status_type="Maintenance", event_status="ongoing")
_TWO_HOURS_EARLIER = object()


def track(
    state: State,
    since: datetime = STORED_AT,
    key: str = "icloud backup",
    *,
    service: str = "iCloud Backup",
    cause: Event | None = MAINTENANCE_EVENT,
) -> SourceTrack:
    """One source's track with one confirmed service, last read successfully at `since`."""
    tracked = ServiceTrack(service=service, state=state, since=since, cause=cause)
    return SourceTrack(services={key: tracked}, health=SourceHealth(last_success=since))


def transition(
    kind: Kind = Kind.RECOVERED,
    *,
    at: datetime = STORED_AT,
    service: str | None = "iCloud Backup",
    from_state: State | None = State.MAINTENANCE,
    to_state: State = State.AVAILABLE,
    since: datetime | object | None = _TWO_HOURS_EARLIER,
    event: Event | None = MAINTENANCE_EVENT,
    redirect_url: str | None = None,
    source: str = "apple",
) -> Transition:
    """A transition; by default iCloud Backup recovered from a 2-hour maintenance at `at`."""
    return Transition(
        source=source,
        service=service,
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        at=at,
        since=at - timedelta(hours=2) if since is _TWO_HOURS_EARLIER else since,  # type: ignore[arg-type]
        event=event,
        redirect_url=redirect_url,
    )
