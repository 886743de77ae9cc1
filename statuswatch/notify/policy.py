"""DESIGN §4a decisions, pure (no I/O): which policy messages are due, under which key,
and what quiet hours and silences do to rows about to be sent.

The monitor asks `due_starting` / `due_reminders` after each recorded poll and queues the
answers through the store (at most once per key); the deliverer asks `screen` for every
group of claimed rows before it sends them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

from statuswatch.model import Event, Kind, Observation, State, Transition, from_epoch_ms
from statuswatch.notify.timefmt import zone_or_utc
from statuswatch.quiet import QuietWindow
from statuswatch.tracker import planned_key


@dataclass(frozen=True, slots=True)
class Policy:
    """One subscriber's policies, its own settings over the top-level defaults."""

    zone: tzinfo
    timezone: str
    quiet: QuietWindow | None = None
    urgent: frozenset[str] = frozenset()
    remind_before: tuple[float, ...] = ()  # seconds, largest first
    repeat_every: float | None = None


def _own(subscriber: Any, settings: Any, name: str) -> Any:
    value = getattr(subscriber, name, None)
    return getattr(settings, name, None) if value is None else value


def policy_of(subscriber: Any, settings: Any) -> Policy:
    """Works on config.py's models and on settings_view's cached objects alike."""
    timezone = getattr(subscriber, "timezone", None) or settings.timezone
    quiet = _own(subscriber, settings, "quiet_hours")
    return Policy(
        zone=zone_or_utc(timezone),
        timezone=timezone,
        quiet=QuietWindow.parse(quiet) if quiet else None,
        urgent=frozenset(_own(subscriber, settings, "urgent") or ()),
        remind_before=tuple(sorted(set(_own(subscriber, settings, "remind_before") or ()))[::-1]),
        repeat_every=_own(subscriber, settings, "repeat_every"),
    )


# -- keys ------------------------------------------------------------------------------


def _key(*parts: object) -> str:
    # \x1f (unit separator) cannot appear in a service name Apple would publish sensibly,
    # and keeps every part readable in the database.
    # PostgreSQL refuses NUL in text: a name from the feed must not be able to fail a poll.
    return "\x1f".join(str(part).replace("\x00", "\ufffd") for part in parts)


def starting_key(
    subscriber: str, target: str, source: str, event_id: str, offset: float, start_ms: int
) -> str:
    """One `starting` message per (subscriber, target, event, offset, start): Apple moving
    the start gives a new key, so the reminder follows the new time."""
    return _key("starting", subscriber, target, source, event_id, int(offset), start_ms)


def reminder_key(
    subscriber: str, target: str, source: str, service: str, since: datetime, period: int
) -> str:
    """One `reminder` per (subscriber, target, service, episode, period number)."""
    return _key("reminder", subscriber, target, source, service, int(since.timestamp()), period)


# -- what is due -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Due:
    """A policy message due for one subscriber (fanned out to its targets by the caller)."""

    kind: Kind
    transition: Transition
    key_for: Any = field(compare=False)  # callable (target_key) -> the message's key
    extra: dict[str, object] = field(default_factory=dict)


class _Track(Protocol):
    service: str
    state: State | None
    since: datetime | None
    cause: Event | None


def due_starting(
    subscriber: str,
    policy: Policy,
    source: str,
    observations: Iterable[Observation],
    states: dict[str, State],
    first_seen: dict[str, datetime],
    now: datetime,
) -> list[Due]:
    """For each planned event still planned now: the smallest offset whose time has come.

    None for an event that is gone, cancelled or already active (it is then not among the
    observations' planned events), for offsets that were already past when the event was
    first seen (its `scheduled` announcement said it), or once the start has passed.
    `first_seen` maps tracker.planned_key() to when the event was first seen.
    """
    due: list[Due] = []
    if not policy.remind_before:
        return due
    for observation in observations:
        for event in observation.planned:
            start = from_epoch_ms(event.epoch_start_ms) if event.epoch_start_ms else None
            if start is None or not now < start:
                continue
            seen = first_seen.get(planned_key(observation.service, event.message_id), now)
            reached = [o for o in policy.remind_before if start - timedelta(seconds=o) <= now]
            if not reached:
                continue
            offset = min(reached)
            if start - timedelta(seconds=offset) < seen - timedelta(seconds=1):
                continue  # it was announced after this reminder's time
            state = states.get(observation.service, State.AVAILABLE)
            transition = Transition(
                source=source,
                service=observation.service,
                kind=Kind.STARTING,
                from_state=state,
                to_state=state,
                at=now,
                since=start,
                event=event,
                redirect_url=observation.redirect_url,
            )
            start_ms = int(event.epoch_start_ms or 0)
            event_id = f"{observation.service}\x1f{event.message_id}"
            due.append(
                Due(
                    Kind.STARTING,
                    transition,
                    lambda target, e=event_id, o=offset, s=start_ms: starting_key(
                        subscriber, target, source, e, o, s
                    ),
                    {"offset": offset},
                )
            )
    return due


def due_reminders(
    subscriber: str,
    policy: Policy,
    source: str,
    tracks: Iterable[_Track],
    redirect_urls: dict[str, str | None],
    now: datetime,
) -> list[Due]:
    """One `reminder` per period while a service stays in a known non-available state.

    Only the latest period is due: after a daemon was down for three periods, one
    reminder says how long it has lasted, not three.
    """
    due: list[Due] = []
    period = policy.repeat_every
    if not period:
        return due
    for track in tracks:
        state = track.state
        if state is None or state in (State.AVAILABLE, State.UNKNOWN) or track.since is None:
            continue
        number = int((now - track.since).total_seconds() // period)
        if number < 1:
            continue
        transition = Transition(
            source=source,
            service=track.service,
            kind=Kind.REMINDER,
            from_state=state,
            to_state=state,
            at=now,
            since=track.since,
            event=track.cause,
            redirect_url=redirect_urls.get(track.service),
        )
        since = track.since
        due.append(
            Due(
                Kind.REMINDER,
                transition,
                lambda target, s=track.service, t=since, n=number: reminder_key(
                    subscriber, target, source, s, t, n
                ),
                {"period": number},
            )
        )
    return due


# -- screening rows before they are sent -----------------------------------------------


class _Silence(Protocol):
    id: int
    service: str | None
    subscriber: str | None
    kind: str | None


def silence_matches(silence: _Silence, subscriber: str, service: str | None, kind: str) -> bool:
    """Every matcher the silence sets must hold (an unset one matches anything)."""
    if silence.subscriber is not None and silence.subscriber != subscriber:
        return False
    if silence.kind is not None and silence.kind != kind:
        return False
    if silence.service is not None:
        return service is not None and silence.service.casefold() == service.casefold()
    return True


class _Row(Protocol):
    id: int
    subscriber: str
    kind: str
    held_until: datetime | None

    @property
    def transition(self) -> Transition: ...


@dataclass(slots=True)
class Screened:
    send: list[Any] = field(default_factory=list)  # now, one message each or a digest
    catch_up: list[Any] = field(default_factory=list)  # held rows whose window is over
    hold: list[Any] = field(default_factory=list)  # to hold until `hold_until`
    hold_until: datetime | None = None
    silenced: dict[int, list[Any]] = field(default_factory=dict)  # silence id -> rows


def screen(
    rows: Sequence[_Row], policy: Policy, silences: Sequence[_Silence], now: datetime
) -> Screened:
    """Silences first (a silenced row is never sent, held or not), then quiet hours:
    inside the window, rows of kinds not in `urgent` are held until its end; outside it,
    rows that were held go out together as the catch-up."""
    result = Screened()
    end = policy.quiet.end_after(now, policy.zone) if policy.quiet else None
    for row in rows:
        service = row.transition.service
        silence = next(
            (s for s in silences if silence_matches(s, row.subscriber, service, row.kind)), None
        )
        if silence is not None:
            result.silenced.setdefault(silence.id, []).append(row)
        elif end is not None and row.kind not in policy.urgent:
            result.hold.append(row)
        elif row.held_until is not None and row.kind not in policy.urgent:
            result.catch_up.append(row)
        else:
            result.send.append(row)
    result.hold_until = end if result.hold else None
    if len(result.catch_up) == 1 and end is None:
        # One held row needs no summary: it goes out as its own message.
        result.send.extend(result.catch_up)
        result.catch_up = []
    return result
