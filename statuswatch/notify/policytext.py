"""The words of the DESIGN §4a policy messages: `starting`, `reminder` and the quiet-hours
catch-up (catchup.py). Pure, like render.py (which hands policy kinds over to
`render_policy`)."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from statuswatch.model import Kind, State, Transition
from statuswatch.notify.text import (
    TITLE_MAX,
    cap,
    clean,
    neutralise,
    neutralise_title,
    safe_link,
    status_page_or_default,
)
from statuswatch.notify.timefmt import (
    abbreviation,
    format_duration,
    format_moment,
    format_window,
    from_epoch_ms,
    local,
    utc,
    zone_or_utc,
)

_STILL = {
    State.MAINTENANCE: "under maintenance",
    State.OUTAGE: "having an outage",
    State.ISSUE: "having an issue",
    State.PERFORMANCE: "running with degraded performance",
    State.UNKNOWN: "in an unknown state",
    State.AVAILABLE: "available",
}
_NOUN = {
    "maintenance": "maintenance",
    "outage": "an outage",
    "issue": "an issue",
    "performance": "degraded performance",
}


def service_name(transition: Transition) -> str:
    return neutralise_title(transition.service or "", max_len=100) or "(unnamed service)"


def _apple(transition: Transition) -> str:
    event = transition.event
    if event is None or not event.message:
        return ""
    return f'Apple says: "{neutralise(event.message, max_len=1000)}"'


def _link(transition: Transition, status_page: str | None) -> str:
    page = safe_link(transition.redirect_url) or status_page_or_default(status_page)
    return f"Details: {page}"


def starts_in(transition: Transition) -> timedelta | None:
    """How long before its start a `starting` message was due (its `at`)."""
    event = transition.event
    start = None if event is None else from_epoch_ms(event.epoch_start_ms)
    if start is None:
        return None
    return max(start - utc(transition.at), timedelta(0))


def _rounded(delta: timedelta) -> str:
    """ "1 h", "24 h", "35 min": a reminder due at 19:00 for a 20:00 start and sent a few
    seconds late still says 1 h, so round to the minute rather than truncate. Up to two
    days in hours, as people write offsets ("24 h", not "1 d")."""
    minutes = round(delta.total_seconds() / 60)
    hours, rest = divmod(minutes, 60)
    if 1 <= hours < 48:
        return f"{hours} h" + (f" {rest} min" if rest else "")
    return format_duration(timedelta(minutes=minutes))


def render_starting(
    transition: Transition, zone: tzinfo, status_page: str | None
) -> tuple[str, str]:
    """E.g. "⏰ iCloud Backup: maintenance starts in 1 h, 20:00–21:00 CEST"."""
    service = service_name(transition)
    event = transition.event
    word = (event.status_type if event else "").strip().casefold()
    noun = _NOUN.get(word, word or "an event").removeprefix("an ")
    start = from_epoch_ms(event.epoch_start_ms) if event else None
    end = from_epoch_ms(event.epoch_end_ms) if event else None
    lead = starts_in(transition)
    when = f"in {_rounded(lead)}" if lead is not None else "soon"
    window = ""
    if start is not None:
        window = _short_window(start, end, zone, utc(transition.at))
    title = f"⏰ {service}: {noun} starts {when}" + (f", {window}" if window else "")
    lines = [f"{service}: {noun} starts {when}" + (f", {window}." if window else ".")]
    if start is not None and end is not None and end > start:
        lines[0] += f" It is planned to last {format_duration(end - start)}."
    lines.append(_apple(transition))
    lines.append(
        "You will be told when it starts and when it is over."
        if word == "maintenance"
        else "You will be told when the service's state changes."
    )
    lines.append(_link(transition, status_page))
    return title, "\n\n".join(line for line in lines if line)


def _short_window(start: datetime, end: datetime | None, zone: tzinfo, at: datetime) -> str:
    """ "20:00–21:00 CEST" on the day of `at`, else with the day ("Tue 14 May 20:00–…")."""
    first = local(start, zone)
    last = None if end is None else local(end, zone)
    seen = local(at, zone)
    if first is None or seen is None:
        return format_window(start, end, zone, reference=at)
    if first.date() == seen.date() and (last is None or last.date() == first.date()):
        if last is None or abbreviation(first) != abbreviation(last) or last <= first:
            return f"{first:%H:%M} {abbreviation(first)}"
        return f"{first:%H:%M}–{last:%H:%M} {abbreviation(first)}"
    return format_window(start, end, zone, reference=at)


def render_reminder(
    transition: Transition, zone: tzinfo, status_page: str | None
) -> tuple[str, str]:
    """E.g. "⏳ iCloud Backup: still under maintenance, since 20:02, 12 h"."""
    service = service_name(transition)
    state = State(transition.to_state)
    still = _STILL[state]
    since_text, lasted = "", ""
    if transition.since is not None:
        since_text = _clock_or_moment(utc(transition.since), zone, utc(transition.at))
        lasted = format_duration(max(utc(transition.at) - utc(transition.since), timedelta(0)))
    tail = ", ".join(part for part in (f"since {since_text}" if since_text else "", lasted) if part)
    title = f"⏳ {service}: still {still}" + (f", {tail}" if tail else "")
    lines = [f"{service} is still {still}" + (f" ({tail})." if tail else ".")]
    lines.append(_apple(transition))
    lines.append("You will be told as soon as it is available again.")
    lines.append(_link(transition, status_page))
    return title, "\n\n".join(line for line in lines if line)


def _clock_or_moment(moment: datetime, zone: tzinfo, reference: datetime) -> str:
    shown, seen = local(moment, zone), local(reference, zone)
    if shown is not None and seen is not None and shown.date() == seen.date():
        return f"{shown:%H:%M} {abbreviation(shown)}"
    return format_moment(moment, zone, reference=reference)


def render_policy(
    transition: Transition, *, timezone: str, status_page: str | None
) -> tuple[str, str]:
    """The title and body of a `starting` or `reminder` message."""
    zone = zone_or_utc(timezone)
    if transition.kind == Kind.STARTING:
        title, body = render_starting(transition, zone, status_page)
    else:
        title, body = render_reminder(transition, zone, status_page)
    return cap(clean(title, one_line=True), TITLE_MAX), body
