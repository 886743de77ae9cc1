"""A realistic transition of each kind, for `statuswatch notify-test` and the docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from statuswatch.model import Event, Kind, State, Transition, to_epoch_ms


def sample_transition(
    kind: str = "recovered", service: str = "iCloud Backup", now: datetime | None = None
) -> Transition:
    """A realistic transition for `statuswatch notify-test` and the docs.

    E.g. the default: iCloud Backup recovered after 2 h 14 min of scheduled maintenance.
    """
    try:
        chosen = Kind(kind)
    except ValueError:
        valid = ", ".join(member.value for member in Kind)
        raise ValueError(f"unknown kind {kind!r}; valid kinds: {valid}") from None
    if now is None:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    source = "consumer"
    if chosen == Kind.SOURCE_DOWN:
        since = now - timedelta(minutes=35)
        return Transition(source, None, chosen, None, State.UNKNOWN, now, since)
    if chosen == Kind.SOURCE_UP:
        since = now - timedelta(hours=1, minutes=5)
        return Transition(source, None, chosen, State.UNKNOWN, State.AVAILABLE, now, since)
    if chosen == Kind.RECOVERED:
        # Apple's window (2 h 14 min) ended 3 min before statuswatch saw it over.
        since = now - timedelta(hours=2, minutes=17)
        event = _sample_event(
            "Maintenance",
            "resolved",
            f"{service} was unavailable due to scheduled maintenance.",
            "Some users were affected",
            since,
            now - timedelta(minutes=3),
        )
        return Transition(
            source, service, chosen, State.MAINTENANCE, State.AVAILABLE, now, since, event
        )
    if chosen == Kind.STARTING:
        # The "1h" reminder of tomorrow's window, due one hour before it starts.
        start = now.replace(second=0, microsecond=0) + timedelta(hours=1)
        event = _sample_event(
            "Maintenance",
            "scheduled",
            f"{service} will be unavailable due to scheduled maintenance.",
            "Some users may be affected",
            start,
            start + timedelta(hours=1),
        )
        return Transition(
            source, service, chosen, State.AVAILABLE, State.AVAILABLE, now, None, event
        )
    if chosen == Kind.REMINDER:
        since = now - timedelta(hours=12, minutes=3)
        event = _sample_event(
            "Maintenance",
            "ongoing",
            f"{service} is unavailable due to scheduled maintenance.",
            "Some users are affected",
            since,
        )
        return Transition(
            source, service, chosen, State.MAINTENANCE, State.MAINTENANCE, now, since, event
        )
    if chosen == Kind.SCHEDULED:
        start = (now + timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)
        event = _sample_event(
            "Maintenance",
            "scheduled",
            f"{service} will be unavailable due to scheduled maintenance.",
            "Some users may be affected",
            start,
            start + timedelta(hours=1),
        )
        return Transition(
            source, service, chosen, State.AVAILABLE, State.AVAILABLE, now, None, event
        )
    if chosen in (Kind.MAINTENANCE, Kind.INITIAL, Kind.DELIVERY_FAILED):
        start = now - timedelta(minutes=4)
        event = _sample_event(
            "Maintenance",
            "ongoing",
            f"{service} is unavailable due to scheduled maintenance.",
            "Some users are affected",
            start,
            start + timedelta(hours=2),
        )
        if chosen == Kind.INITIAL:
            return Transition(source, service, chosen, None, State.MAINTENANCE, now, now, event)
        since = now - timedelta(days=9, hours=3, minutes=20)
        return Transition(
            source, service, chosen, State.AVAILABLE, State.MAINTENANCE, now, since, event
        )
    messages = {
        Kind.OUTAGE: "Users are experiencing a problem with this service. We are investigating"
        " and will update the status light when all issues are resolved.",
        Kind.ISSUE: "Some users may be experiencing issues with this service.",
        Kind.PERFORMANCE: "Users may experience slower than normal performance with this service.",
    }
    start = now - timedelta(minutes=12)
    event = _sample_event(
        chosen.value.capitalize(), "ongoing", messages[chosen], "Some users are affected", start
    )
    since = now - timedelta(days=3, hours=4, minutes=10)
    return Transition(
        source, service, chosen, State.AVAILABLE, State(chosen.value), now, since, event
    )


def _sample_event(
    status_type: str,
    event_status: str,
    message: str,
    users_affected: str,
    start: datetime,
    end: datetime | None = None,
) -> Event:
    return Event(
        message_id="sample-1",
        status_type=status_type,
        event_status=event_status,
        message=message,
        users_affected=users_affected,
        epoch_start_ms=to_epoch_ms(start),
        epoch_end_ms=None if end is None else to_epoch_ms(end),
    )
