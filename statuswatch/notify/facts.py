"""One transition's facts for a message (DESIGN §4): feed text neutralised, times
formatted in the subscriber's zone, durations taken from Apple's window where it gives one.
Pure: what render.py and digest.py word, computed once per transition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from statuswatch.model import Event, Kind, Transition
from statuswatch.notify.text import neutralise, neutralise_title, safe_link, status_page_or_default
from statuswatch.notify.timefmt import (
    format_duration,
    format_moment,
    format_window,
    from_epoch_ms,
    utc,
)

MESSAGE_MAX = 1000
SERVICE_MAX = 100
USERS_AFFECTED_MAX = 200
WORD_MAX = 40


@dataclass(frozen=True, slots=True)
class Facts:
    """One transition's facts, neutralised and formatted once for titles, bodies and fields."""

    transition: Transition
    kind: Kind
    service: str
    source: str
    message: str
    users_affected: str
    status_type: str
    event_status: str
    at: str
    since: str
    duration: str
    window: str
    window_length: str
    planned: bool  # maintenance: its window was planned, unlike an incident's timeline
    link: str
    status_page: str
    service_page: str | None
    # recovered only: Apple never marked the event over (it was removed, or its window
    # ran out), so its present-tense text and any end still ahead are not current.
    stale: bool = False
    ends_ahead: bool = False  # Apple's end of the event is after the change was seen
    reason: str = ""  # source_down: why the feed could not be read


# Apple's eventStatus words for an event that is over: its text was written afterwards.
OVER = frozenset({"resolved", "completed", "cancelled", "canceled"})


def span(transition: Transition, event: Event | None) -> tuple[datetime | None, datetime]:
    """When the state being left began and ended, from Apple's epochs where it gives them
    (DESIGN §4: durations agree with Apple's window), else from what statuswatch saw."""
    at = utc(transition.at)
    begin = None if transition.since is None else utc(transition.since)
    if transition.kind != Kind.RECOVERED or event is None:
        return begin, at
    start, end = from_epoch_ms(event.epoch_start_ms), from_epoch_ms(event.epoch_end_ms)
    if start is not None and start <= at:
        begin = start
    if begin is not None and end is not None and begin <= end <= at:
        return begin, end
    return begin, at


def facts_of(transition: Transition, zone: tzinfo, status_page: str | None) -> Facts:
    kind = Kind(transition.kind)
    event: Event | None = transition.event
    at = utc(transition.at)
    since, duration = "", ""
    begin, end = span(transition, event)
    if begin is not None:
        since = format_moment(begin, zone, reference=at)
        if end >= begin:
            duration = format_duration(end - begin)
    window = window_length = reason = ""
    status_type = event_status = message = users_affected = ""
    stale = ends_ahead = False
    if kind == Kind.SOURCE_DOWN:
        reason = neutralise_title(transition.reason or "", max_len=MESSAGE_MAX)
    elif event is not None:
        message = neutralise(event.message or "", max_len=MESSAGE_MAX)
        users_affected = neutralise_title(event.users_affected or "", max_len=USERS_AFFECTED_MAX)
        status_type = neutralise_title(event.status_type or "", max_len=WORD_MAX)
        event_status = neutralise_title(event.event_status or "", max_len=WORD_MAX)
        start, finish = from_epoch_ms(event.epoch_start_ms), from_epoch_ms(event.epoch_end_ms)
        if start is not None:
            window = format_window(start, finish, zone, reference=at)
            if finish is not None and finish > start:
                window_length = format_duration(finish - start)
        if kind == Kind.RECOVERED:
            stale = " ".join(event.event_status.split()).casefold() not in OVER
            ends_ahead = finish is not None and finish > at
    planned = status_type.casefold() == "maintenance"
    page = status_page_or_default(status_page)
    service_page = None if kind.is_source_kind else safe_link(transition.redirect_url)
    service = neutralise_title(transition.service or "", max_len=SERVICE_MAX)
    if not service and not kind.is_source_kind:
        service = "(unnamed service)"
    return Facts(
        transition=transition,
        kind=kind,
        service=service,
        source=neutralise_title(transition.source or "", max_len=SERVICE_MAX) or "unnamed",
        message=message,
        users_affected=users_affected,
        status_type=status_type,
        event_status=event_status,
        at=format_moment(at, zone),
        since=since,
        duration=duration,
        window=window,
        window_length=window_length,
        planned=planned,
        link=service_page or page,
        status_page=page,
        service_page=service_page,
        stale=stale,
        ends_ahead=ends_ahead,
        reason=reason,
    )
