"""The 90-day strip: per day, the worst state a service was in. Pure.

A service's past is rebuilt from what the store keeps: its confirmed state and since
when, and its transitions (each says what it left and since when). Times statuswatch
knows nothing about — before a service was first seen, and while its feed was down
(source_down .. source_up) — are "no data", drawn grey: no data is not "available".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from statuswatch.model import Kind, State, Transition
from statuswatch.notify.render import format_duration
from statuswatch.tracker import ServiceTrack, service_key

STATE_KINDS = frozenset(
    {Kind.RECOVERED, Kind.OUTAGE, Kind.ISSUE, Kind.PERFORMANCE, Kind.MAINTENANCE, Kind.INITIAL}
)


@dataclass(frozen=True, slots=True)
class Segment:
    start: datetime
    end: datetime
    state: State


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    worst: State  # UNKNOWN when nothing is known about the day
    seconds: dict[State, float]  # known time per state; State.UNKNOWN for the rest

    def title(self) -> str:
        """What happened that day, for the bar's <title>."""
        label = self.day.strftime("%a %d %b %Y")
        known = {s: v for s, v in self.seconds.items() if s is not State.UNKNOWN and v > 0}
        if not known:
            return f"{label}: no data"
        if len(known) == 1 and State.UNKNOWN not in self.seconds:
            return f"{label}: {next(iter(known))} all day"
        ordered = sorted(known.items(), key=lambda item: -item[0].severity)
        parts = [f"{state} {duration_text(seconds)}" for state, seconds in ordered]
        if self.seconds.get(State.UNKNOWN, 0) >= 60:
            parts.append(f"no data {duration_text(self.seconds[State.UNKNOWN])}")
        return f"{label}: " + ", ".join(parts)


def duration_text(seconds: float) -> str:
    return format_duration(timedelta(seconds=max(0.0, seconds)))


def segments(
    service: str,
    source: str,
    track: ServiceTrack | None,
    transitions: Sequence[Transition],
    now: datetime,
) -> list[Segment]:
    """Known-state intervals of one service, oldest first, with feed outages cut out."""
    own = [
        t
        for t in transitions
        if t.source == source
        and t.kind in STATE_KINDS
        and t.service is not None
        and service_key(t.service) == service_key(service)
    ]
    own.sort(key=lambda t: t.at)
    result: list[Segment] = []
    if own:
        first = own[0]
        if first.from_state is not None and first.from_state.is_known and first.since:
            result.append(Segment(first.since, first.at, first.from_state))
        for current, following in zip(own, [*own[1:], None], strict=True):
            end = following.at if following is not None else now
            result.append(Segment(current.at, end, current.to_state))
    elif track is not None and track.state is not None and track.since is not None:
        result.append(Segment(track.since, now, track.state))
    return _cut(result, _outages(source, transitions, now))


def _outages(
    source: str, transitions: Sequence[Transition], now: datetime
) -> list[tuple[datetime, datetime]]:
    """(from, to) for each time the source's feed was down: last heard .. readable again."""
    windows: list[tuple[datetime, datetime]] = []
    down_since: datetime | None = None
    for t in sorted(transitions, key=lambda t: t.at):
        if t.source != source:
            continue
        if t.kind == Kind.SOURCE_DOWN:
            down_since = t.since or t.at
        elif t.kind == Kind.SOURCE_UP and down_since is not None:
            windows.append((down_since, t.at))
            down_since = None
    if down_since is not None:
        windows.append((down_since, now))
    return windows


def _cut(parts: list[Segment], holes: list[tuple[datetime, datetime]]) -> list[Segment]:
    for hole_start, hole_end in holes:
        kept: list[Segment] = []
        for part in parts:
            if part.end <= hole_start or part.start >= hole_end:
                kept.append(part)
                continue
            if part.start < hole_start:
                kept.append(Segment(part.start, hole_start, part.state))
            if part.end > hole_end:
                kept.append(Segment(hole_end, part.end, part.state))
        parts = kept
    return parts


def days(parts: Sequence[Segment], now: datetime, zone: tzinfo, count: int = 90) -> list[Day]:
    """`count` days ending today (in `zone`), oldest first."""
    today = now.astimezone(zone).date()
    result = []
    for offset in range(count - 1, -1, -1):
        day = today - timedelta(days=offset)
        start = datetime.combine(day, time(0), zone)
        end = min(datetime.combine(day + timedelta(days=1), time(0), zone), now)
        seconds: dict[State, float] = {}
        for part in parts:
            overlap = (min(part.end, end) - max(part.start, start)).total_seconds()
            if overlap > 0:
                seconds[part.state] = seconds.get(part.state, 0.0) + overlap
        unknown = (end - start).total_seconds() - sum(seconds.values())
        if unknown >= 1:
            seconds[State.UNKNOWN] = unknown
        known = [s for s, v in seconds.items() if s is not State.UNKNOWN and v > 0]
        worst = max(known, key=lambda s: s.severity) if known else State.UNKNOWN
        result.append(Day(day, worst, seconds))
    return result
