"""The words of the DESIGN §4a policy messages: `starting`, `reminder` and the quiet-hours
catch-up. Pure, like render.py (which hands policy kinds over to `render_policy`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from statuswatch.model import Kind, State, Transition
from statuswatch.notify.quiet import Change, fold
from statuswatch.notify.render import Message, render
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


def _service(transition: Transition) -> str:
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
    service = _service(transition)
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
    service = _service(transition)
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


# -- the quiet-hours catch-up ----------------------------------------------------------


def catch_up_text(
    items: Sequence[tuple[Transition, str]], *, timezone: str, window: str
) -> tuple[str, str, list[Transition]]:
    """The catch-up's title and summary, and the transitions whose full messages follow.

    `items` are the held rows' transitions (policy ones included) with their one-line
    titles. Each subject gets one folded line; its last change's full message follows,
    so the recovered message's backup checklist is still there in the morning.
    """
    zone = zone_or_utc(timezone)
    folds = fold([_change(t, title) for t, title in items], lambda m: _hhmm(m, zone))
    lines = [entry.line for entry in folds]
    count = len(items)
    title = f"🌙 After quiet hours ({window}): " + "; ".join(lines)
    held = "1 message" if count == 1 else f"{count} messages"
    summary = [f"During your quiet hours ({window}) statuswatch held {held}:"]
    summary += [f"- {line}" for line in lines]
    finals = [_final_transition(entry.final, items) for entry in folds]
    return cap(clean(title, one_line=True), TITLE_MAX), "\n".join(summary), finals


def _hhmm(moment: datetime, zone: tzinfo) -> str:
    shown = local(moment, zone)
    return "?" if shown is None else f"{shown:%H:%M}"


def _change(transition: Transition, title: str) -> Change:
    kind = Kind(transition.kind)
    if kind.is_source_kind:
        subject = f"Apple's status feed ({transition.source})"
    else:
        subject = _service(transition)
    return Change(
        kind=str(kind),
        subject=subject,
        from_state=transition.from_state,
        to_state=State(transition.to_state),
        at=utc(transition.at),
        since=transition.since,
        text=title,
    )


def _final_transition(change: Change, items: Sequence[tuple[Transition, str]]) -> Transition:
    for transition, _ in items:
        if utc(transition.at) == change.at and str(transition.kind) == change.kind:
            return transition
    return items[-1][0]


def render_catch_up(
    rows: Sequence[Transition],
    *,
    timezone: str,
    window: str,
    status_page: str | None,
    title_template: str | None = None,
    body_template: str | None = None,
) -> Message:
    """The one message a target gets when its quiet hours end (DESIGN §4a): a folded
    summary, then the full message of each subject's last change, oldest first."""

    def full(transition: Transition) -> Message:
        return render(
            transition,
            timezone=timezone,
            status_page=status_page,
            title_template=title_template,
            body_template=body_template,
        )

    ordered = sorted(rows, key=lambda t: utc(t.at))
    items = [(t, full(t).title) for t in ordered]
    title, summary, finals = catch_up_text(items, timezone=timezone, window=window)
    sections = [f"{m.title}\n\n{m.body}" for m in (full(t) for t in finals)]
    body = f"\n\n{'─' * 24}\n\n".join([summary, *sections])
    kinds = tuple(dict.fromkeys(str(t.kind) for t in ordered))
    return Message(title=title, body=body, kinds=kinds)
