"""Builders for synthetic feed data: Apple-shaped JSON, model events, observations, polls."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from statuswatch.model import Event, Observation, Poll, Service, Snapshot, State

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
