"""One-line descriptions of transitions for logs and the CLI (`check`, `history`). Pure.

Times are "2026-12-02 05:51 CET" in the given zone (UTC by default, the configured
`timezone` for `history`), and an event's window comes from Apple's epochs, not from its
`startDate` string (Apple's Pacific-time text, e.g. "12/02/2026 20:50 PST").
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from statuswatch.model import Kind, Transition
from statuswatch.notify.timefmt import UNKNOWN_TIME, abbreviation, from_epoch_ms, local, utc


def stamp(moment: datetime | None, zone: tzinfo = UTC) -> str:
    """E.g. "2026-12-02 05:51 CET"; "-" for no moment."""
    if moment is None:
        return "-"
    shown = local(moment, zone)
    if shown is None:
        return UNKNOWN_TIME
    return f"{shown:%Y-%m-%d %H:%M} {abbreviation(shown)}"


def _window(transition: Transition, zone: tzinfo) -> str:
    event = transition.event
    start = None if event is None else from_epoch_ms(event.epoch_start_ms)
    if event is None or start is None:
        return "at a time Apple does not give"
    end = from_epoch_ms(event.epoch_end_ms)
    first = stamp(start, zone)
    if end is None or utc(end) <= utc(start):
        return f"from {first}"
    last = stamp(end, zone)
    if first[:10] == last[:10] and first[-4:] == last[-4:]:
        # Same day and zone: "2026-12-03 04:50–05:50 UTC".
        last = last[11:16]
        return f"for {first[:16]}–{last} {first[17:]}"
    return f"for {first} – {last}"


def describe_transition(
    transition: Transition, *, zone: tzinfo = UTC, with_time: bool = True
) -> str:
    """E.g. "iCloud Backup: maintenance → available (recovered, 2026-12-02 05:51 UTC)".

    `with_time=False` leaves the moment out, for lines that show it in a column already.
    """
    what = transition.service or f"source {transition.source}"
    at = stamp(transition.at, zone)
    kind = Kind(transition.kind)
    if kind == Kind.SOURCE_DOWN:
        text = (
            f"the {transition.source} feed has been unreadable since"
            f" {stamp(transition.since, zone) if transition.since else '?'}"
        )
        if transition.reason:
            text += f": {' '.join(transition.reason.split())}"
        return f"{text} ({at})" if with_time else text
    if kind == Kind.SOURCE_UP:
        text = f"the {transition.source} feed is readable again"
        return f"{text} ({at})" if with_time else text
    if kind == Kind.SCHEDULED and transition.event is not None:
        noun = transition.event.status_type.lower() or "event"
        text = f"{what}: {noun} scheduled {_window(transition, zone)}"
        return f"{text} (announced {at})" if with_time else text
    if transition.from_state is None:
        text = f"{what}: {transition.kind} — now {transition.to_state}"
        return f"{text} ({at})" if with_time else text
    change = f"{what}: {transition.from_state} → {transition.to_state}"
    return f"{change} ({transition.kind}, {at})" if with_time else change
