"""Turn transitions into messages people can act on (DESIGN §4): the words of each kind.

Pure: no I/O, and no apprise import (it costs ~90 ms and rendering does not need it), so
`statuswatch check` pays for apprise only when something is actually sent. Feed text is
neutralised by notify/text.py, times are formatted by notify/timefmt.py and templates are
checked by statuswatch/templates.py; the names other modules import from here stay here.
Bodies are plain text and are handed to apprise as NotifyFormat.TEXT, which escapes them
for HTML and Markdown channels, so HTML in the feed is shown literally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from statuswatch.model import Event, Kind, State, Transition, format_utc
from statuswatch.notify.samples import sample_transition
from statuswatch.notify.text import (
    APPLE_STATUS_PAGE,
    TITLE_MAX,
    cap,
    clean,
    neutralise,
    neutralise_title,
    safe_link,
    status_page_or_default,
)
from statuswatch.notify.timefmt import (
    format_duration,
    format_moment,
    format_window,
    from_epoch_ms,
    load_zone,
    utc,
    validate_timezone,
    zone_or_utc,
)
from statuswatch.templates import (
    TEMPLATE_FIELDS,
    TemplateError,
    apply_template,
    validate_template,
)

__all__ = [
    "APPLE_STATUS_PAGE",
    "TEMPLATE_FIELDS",
    "Message",
    "TemplateError",
    "format_duration",
    "neutralise",
    "neutralise_title",
    "render",
    "render_digest",
    "sample_transition",
    "validate_template",
    "validate_timezone",
]

MESSAGE_MAX = 1000
SERVICE_MAX = 100
USERS_AFFECTED_MAX = 200
WORD_MAX = 40


@dataclass(frozen=True, slots=True)
class Message:
    """What one delivery sends: `body` is plain text, to be handed to apprise as TEXT."""

    title: str
    body: str
    kinds: tuple[str, ...]


# --- what a transition says ---------------------------------------------------------------

_TITLE_EMOJI: dict[Kind, str] = {
    Kind.RECOVERED: "✅",
    Kind.MAINTENANCE: "🔧",
    Kind.OUTAGE: "🔴",
    Kind.ISSUE: "🟠",
    Kind.PERFORMANCE: "🟡",
    Kind.SCHEDULED: "📅",
    Kind.SOURCE_DOWN: "⚠️",
    Kind.SOURCE_UP: "",
    Kind.STARTING: "⏰",
    Kind.REMINDER: "⏳",
    Kind.DELIVERY_FAILED: "⚠️",
}
_STATE_EMOJI: dict[State, str] = {
    State.AVAILABLE: "✅",
    State.MAINTENANCE: "🔧",
    State.OUTAGE: "🔴",
    State.ISSUE: "🟠",
    State.PERFORMANCE: "🟡",
    State.UNKNOWN: "",
}
# "It is ___ right now"
_STATE_NOW: dict[State, str] = {
    State.AVAILABLE: "available",
    State.MAINTENANCE: "under maintenance",
    State.OUTAGE: "having an outage",
    State.ISSUE: "having an issue",
    State.PERFORMANCE: "running with degraded performance",
    State.UNKNOWN: "in an unknown state",
}
# "after 2 h of ___"
_STATE_SPELL: dict[State, str] = {
    State.AVAILABLE: "normal service",
    State.MAINTENANCE: "maintenance",
    State.OUTAGE: "outage",
    State.ISSUE: "issues",
    State.PERFORMANCE: "degraded performance",
    State.UNKNOWN: "no data",
}
# "after ___" when the duration is unknown
_STATE_AFTER: dict[State, str] = {
    State.AVAILABLE: "normal service",
    State.MAINTENANCE: "maintenance",
    State.OUTAGE: "an outage",
    State.ISSUE: "an issue",
    State.PERFORMANCE: "a period of degraded performance",
    State.UNKNOWN: "a period without data",
}
# "Before that: ___ for 3 d 4 h."
_STATE_BEFORE: dict[State, str] = {
    State.AVAILABLE: "available",
    State.MAINTENANCE: "under maintenance",
    State.OUTAGE: "outage",
    State.ISSUE: "issue",
    State.PERFORMANCE: "degraded performance",
    State.UNKNOWN: "no data",
}
_STATUS_NOUN: dict[str, str] = {
    "maintenance": "maintenance",
    "outage": "an outage",
    "issue": "an issue",
    "performance": "degraded performance",
}

_ICLOUD_BACKUP_CHECKS = (
    "You can retry your iCloud backup now. Quick checks before you do:\n"
    "- Wi-Fi connected and the device plugged into power\n"
    "- Enough free iCloud storage for the backup (Settings → [your name] → iCloud shows"
    " what is left)\n"
    "- Low Power Mode (Settings → Battery) and Low Data Mode (Settings → Wi-Fi → ⓘ next to"
    " your network) off\n"
    "- VPN off\n"
    "- iOS/iPadOS up to date (Settings → General → Software Update)\n"
    "Then: Settings → [your name] → iCloud → iCloud Backup → Back Up Now.\n"
    "If it still fails, sign out of iCloud and back in, or make a local backup on a"
    " computer (Finder on a Mac, the Apple Devices app or iTunes on Windows)."
)


@dataclass(frozen=True, slots=True)
class _Facts:
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
_OVER = frozenset({"resolved", "completed", "cancelled", "canceled"})


def _span(transition: Transition, event: Event | None) -> tuple[datetime | None, datetime]:
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


def _facts(transition: Transition, zone: tzinfo, status_page: str | None) -> _Facts:
    kind = Kind(transition.kind)
    event: Event | None = transition.event
    at = utc(transition.at)
    since, duration = "", ""
    begin, end = _span(transition, event)
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
            stale = " ".join(event.event_status.split()).casefold() not in _OVER
            ends_ahead = finish is not None and finish > at
    planned = status_type.casefold() == "maintenance"
    page = status_page_or_default(status_page)
    service_page = None if kind.is_source_kind else safe_link(transition.redirect_url)
    service = neutralise_title(transition.service or "", max_len=SERVICE_MAX)
    if not service and not kind.is_source_kind:
        service = "(unnamed service)"
    return _Facts(
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


def _state(value: State | None) -> State | None:
    return None if value is None else State(value)


def _planned_noun(facts: _Facts) -> str:
    word = facts.status_type.casefold()
    return _STATUS_NOUN.get(word, word or "an event")


def _default_title(facts: _Facts) -> str:
    kind, service = facts.kind, facts.service
    if kind == Kind.RECOVERED:
        return f"✅ {service} is available again"
    if kind == Kind.MAINTENANCE:
        return f"🔧 {service}: scheduled maintenance now in progress"
    if kind == Kind.OUTAGE:
        return f"🔴 {service}: outage"
    if kind == Kind.ISSUE:
        return f"🟠 {service}: issue"
    if kind == Kind.PERFORMANCE:
        return f"🟡 {service}: degraded performance"
    if kind == Kind.INITIAL:
        return _initial_title(service, State(facts.transition.to_state))
    if kind == Kind.SCHEDULED:
        noun = _planned_noun(facts).removeprefix("an ")
        when = f" for {facts.window}" if facts.window else ""
        return f"📅 {service}: {noun} scheduled{when}"
    if kind == Kind.SOURCE_DOWN:
        return f"⚠️ statuswatch cannot read Apple's status feed ({facts.source})"
    return f"statuswatch can read Apple's status feed again ({facts.source})"


def _initial_title(service: str, state: State) -> str:
    if state == State.MAINTENANCE:
        return f"🔧 {service} is under maintenance"
    if state == State.OUTAGE:
        return f"🔴 {service} has an outage right now"
    if state == State.ISSUE:
        return f"🟠 {service} has an issue right now"
    if state == State.PERFORMANCE:
        return f"🟡 {service} has degraded performance right now"
    if state == State.AVAILABLE:
        return f"✅ {service} is available"
    return f"{service}: state unknown"


def _default_body(facts: _Facts) -> str:
    kind = facts.kind
    if kind == Kind.SOURCE_DOWN:
        paragraphs = _source_down(facts)
    elif kind == Kind.SOURCE_UP:
        paragraphs = _source_up(facts)
    elif kind == Kind.RECOVERED:
        paragraphs = _recovered(facts)
    elif kind == Kind.INITIAL:
        paragraphs = _initial(facts)
    elif kind == Kind.SCHEDULED:
        paragraphs = _scheduled(facts)
    else:
        paragraphs = _state_change(facts)
    paragraphs.append(_links(facts))
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph)


def _apple_says(facts: _Facts, *, with_window: bool = True) -> str:
    if facts.stale:
        return _apple_said(facts)
    lines = []
    if facts.message:
        lines.append(f'Apple says: "{facts.message}"')
    if facts.users_affected:
        lines.append(f"Users affected: {facts.users_affected}")
    if with_window and facts.window:
        lines.append(_window_line(facts))
    return "\n".join(lines)


def _plan_line(facts: _Facts) -> str:
    """A recovery before the end Apple gave: that end was the plan, not what happened."""
    length = f" ({facts.window_length})" if facts.window_length else ""
    noun = "Apple had planned it for" if facts.planned else "Apple's timeline had it as"
    return f"{noun} {facts.window}{length}; it ended earlier."


def _apple_said(facts: _Facts) -> str:
    """A recovery Apple never wrote up: its text is from while it lasted, in the present
    tense ("is unavailable", "Some users are affected"), so it is quoted as past, and a
    planned end still ahead is shown as the plan it was."""
    lines = []
    if facts.message:
        lines.append(f'While it lasted, Apple said: "{facts.message}"')
    if facts.window:
        lines.append(_window_line(facts))
    if lines:
        lines.append("Apple has posted no closing update.")
    return "\n".join(lines)


def _window_line(facts: _Facts) -> str:
    if facts.ends_ahead:
        return _plan_line(facts)
    if facts.planned:
        if facts.window_length:
            return f"Maintenance window: {facts.window} ({facts.window_length})"
        return f"Maintenance window: from {facts.window} (Apple gives no end time)"
    if facts.window_length:
        return f"Apple's timeline: {facts.window} ({facts.window_length})"
    return f"Started (per Apple): {facts.window}"


def _links(facts: _Facts) -> str:
    lines = [f"Status page: {facts.status_page}"]
    if facts.service_page:
        lines.append(f"About {facts.service}: {facts.service_page}")
    return "\n".join(lines)


def _recovered(facts: _Facts) -> list[str]:
    previous = _state(facts.transition.from_state)
    lead = f"{facts.service} is available again as of {facts.at}"
    if previous is not None and facts.duration:
        lead += f", after {facts.duration} of {_STATE_SPELL[previous]}."
    elif previous is not None:
        lead += f", after {_STATE_AFTER[previous]}."
    else:
        lead += "."
    if _is_icloud_backup(facts.transition.service):
        advice = _ICLOUD_BACKUP_CHECKS
    else:
        advice = "If something failed while it was unavailable, you can try again now."
    return [lead, _apple_says(facts), advice]


def _is_icloud_backup(service: str | None) -> bool:
    return " ".join((service or "").split()).casefold() == "icloud backup"


def _state_change(facts: _Facts) -> list[str]:
    service, at = facts.service, facts.at
    leads = {
        Kind.OUTAGE: f"Apple reports an outage of {service} as of {at}.",
        Kind.ISSUE: f"Apple reports an issue with {service} as of {at}.",
        Kind.PERFORMANCE: f"Apple reports degraded performance for {service} as of {at}.",
        Kind.MAINTENANCE: f"{service} is under maintenance as of {at}.",
    }
    lead = leads[facts.kind]
    previous = _state(facts.transition.from_state)
    if previous is not None:
        lead += f"\nBefore that: {_STATE_BEFORE[previous]}"
        lead += f" for {facts.duration}." if facts.duration else "."
    return [lead, _apple_says(facts), "You will get a message when it is available again."]


def _initial(facts: _Facts) -> list[str]:
    state = State(facts.transition.to_state)
    lead = f"statuswatch has started watching {facts.service}. It is {_STATE_NOW[state]} right now"
    lead += "." if state == State.AVAILABLE else "; you will be told when it is back."
    lead += f"\nChecked: {facts.at}"
    return [lead, _apple_says(facts)]


def _scheduled(facts: _Facts) -> list[str]:
    lines = [f"Apple has scheduled {_planned_noun(facts)} for {facts.service}."]
    if facts.window:
        length = f" ({facts.window_length})" if facts.window_length else ""
        missing_end = "" if facts.window_length else " (Apple gives no end time)"
        lines.append(f"When: {facts.window}{length}{missing_end}")
    current = _state(facts.transition.from_state)
    if current is not None and current not in (State.AVAILABLE, State.UNKNOWN):
        lines.append(f"Right now it is {_STATE_NOW[current]}.")
    return [
        "\n".join(lines),
        _apple_says(facts, with_window=False),
        "You will get a message when it is over.",
    ]


def _source_down(facts: _Facts) -> list[str]:
    lead = f"statuswatch cannot read Apple's status feed ({facts.source})."
    if facts.since:
        length = f" ({facts.duration})" if facts.duration else ""
        lead += f" It has had no data since {facts.since}{length}."
    else:
        lead += f" It has had no data as of {facts.at}."
    if facts.reason:
        lead += f"\nThe last error: {facts.reason}"
    return [
        lead,
        "The feed could not be read; statuswatch keeps trying and will tell you when it can"
        " read it again. Until then it cannot report changes to the services you watch, so"
        " check Apple's page yourself if you are waiting for one.",
    ]


def _source_up(facts: _Facts) -> list[str]:
    lead = f"statuswatch can read Apple's status feed ({facts.source}) again as of {facts.at}."
    if facts.since:
        length = f" ({facts.duration})" if facts.duration else ""
        lead += f" It had been unreadable since {facts.since}{length}."
    return [
        lead,
        "Changes that happened meanwhile are reported in their own messages; one that began"
        " and ended while the feed was unreadable could not be seen.",
    ]


def _digest_label(facts: _Facts) -> str:
    kind, service = facts.kind, facts.service
    if kind == Kind.RECOVERED:
        return f"{service} available again"
    if kind == Kind.INITIAL:
        state = State(facts.transition.to_state)
        return f"{service}: {_STATE_BEFORE[state]} (first check)"
    if kind == Kind.SCHEDULED:
        return f"{service}: {_planned_noun(facts).removeprefix('an ')} scheduled"
    if kind == Kind.SOURCE_DOWN:
        return f"feed ({facts.source}) unreadable"
    if kind == Kind.SOURCE_UP:
        return f"feed ({facts.source}) readable again"
    if kind == Kind.STARTING:
        return f"{service}: {_planned_noun(facts).removeprefix('an ')} starts soon"
    if kind == Kind.REMINDER:
        return f"{service}: still {_STATE_NOW[State(facts.transition.to_state)]}"
    if kind == Kind.DELIVERY_FAILED:
        return f"{service}: a notification was given up"
    return f"{service}: {_STATE_BEFORE[State(kind.value)]}"


def _template_fields(facts: _Facts, title: str, body: str, timezone: str) -> dict[str, str]:
    transition = facts.transition
    previous = _state(transition.from_state)
    return {
        "service": facts.service if not facts.kind.is_source_kind else "",
        "kind": facts.kind.value,
        "emoji": _emoji(facts),
        "from_state": "" if previous is None else previous.value,
        "to_state": State(transition.to_state).value,
        "at": facts.at,
        "at_iso": format_utc(utc(transition.at)),
        "since": facts.since,
        "duration": facts.duration,
        "message": facts.message,
        "users_affected": facts.users_affected,
        "status_type": facts.status_type,
        "event_status": facts.event_status,
        "window": facts.window,
        "link": facts.link,
        "status_page": facts.status_page,
        "reason": facts.reason,
        "source": facts.source,
        "timezone": timezone if load_zone(timezone) is not None else "UTC",
        "default_title": title,
        "default_body": body,
    }


def _emoji(facts: _Facts) -> str:
    if facts.kind == Kind.INITIAL:
        return _STATE_EMOJI[State(facts.transition.to_state)]
    return _TITLE_EMOJI[facts.kind]


# --- public entry points --------------------------------------------------------------------


def render(
    transition: Transition,
    *,
    timezone: str = "UTC",
    status_page: str | None = None,
    title_template: str | None = None,
    body_template: str | None = None,
) -> Message:
    """The message for one transition, times shown in `timezone` (an IANA name).

    An unknown `timezone` falls back to UTC (config loading rejects it with
    `validate_timezone`). A template that renders blank falls back to the default, since
    apprise refuses an empty body and an empty subject helps nobody. Raises TemplateError
    for an invalid template.
    """
    facts = _facts(transition, zone_or_utc(timezone), status_page)
    return _message(facts, timezone, title_template, body_template)


def _message(
    facts: _Facts, timezone: str, title_template: str | None, body_template: str | None
) -> Message:
    if facts.kind == Kind.DELIVERY_FAILED:
        # Delivery renders real ones with their payload (deliver.py); this is for samples.
        from statuswatch.notify.failtext import render_delivery_failed

        title, body = render_delivery_failed(facts.transition, {}, timezone=timezone)
        return Message(title=title, body=body, kinds=(facts.kind.value,))
    if facts.kind.is_policy_kind:
        # DESIGN §4a reminders have words of their own (policytext.py); templates shape
        # the messages about changes only.
        from statuswatch.notify.policytext import render_policy

        title, body = render_policy(
            facts.transition, timezone=timezone, status_page=facts.status_page
        )
        return Message(title=title, body=body, kinds=(facts.kind.value,))
    title = cap(clean(_default_title(facts), one_line=True), TITLE_MAX)
    body = _default_body(facts)
    if title_template is not None or body_template is not None:
        fields = _template_fields(facts, title, body, timezone)
        if title_template is not None:
            # The template's own text is the operator's; only its shape is enforced here.
            templated = clean(apply_template(title_template, fields), one_line=True)
            title = cap(templated, TITLE_MAX) or title
        if body_template is not None:
            body = clean(apply_template(body_template, fields), one_line=False) or body
    return Message(title=title, body=body, kinds=(facts.kind.value,))


def render_digest(
    transitions: Sequence[Transition],
    *,
    timezone: str = "UTC",
    status_page: str | None = None,
    title_template: str | None = None,
    body_template: str | None = None,
) -> Message:
    """One message for several transitions due together for one subscriber.

    The title leads with the most important change (a recovery, else the most severe);
    the body lists every transition first as one line each (so a channel that truncates
    long bodies still shows them all), then each one's full message, oldest first. The
    templates shape each section; the digest's own title is always the summary.
    """
    items = list(transitions)
    if not items:
        raise ValueError("render_digest needs at least one transition")
    zone = zone_or_utc(timezone)
    # sorted() is stable: transitions of the same instant keep the order they were given in.
    ordered = sorted(items, key=lambda transition: utc(transition.at))
    facts = [_facts(transition, zone, status_page) for transition in ordered]
    messages = [_message(fact, timezone, title_template, body_template) for fact in facts]
    if len(messages) == 1:
        return messages[0]
    count = len(ordered)
    summary = [f"statuswatch has {count} changes for you, oldest first:"]
    summary += [
        f"{number}. {message.title} — {fact.at}"
        for number, (message, fact) in enumerate(zip(messages, facts, strict=True), start=1)
    ]
    sections = [
        f"{number}/{count} · {message.title}\n\n{message.body}"
        for number, message in enumerate(messages, start=1)
    ]
    body = f"\n\n{'─' * 24}\n\n".join(["\n".join(summary), *sections])
    kinds = tuple(dict.fromkeys(kind for message in messages for kind in message.kinds))
    return Message(title=_digest_title(facts), body=body, kinds=kinds)


def _importance(facts: _Facts) -> float:
    """Lower first: what a digest's title leads with. A recovery is what people wait for;
    then outages, an unreadable feed, and the rest by severity; announcements last."""
    kind = facts.kind
    if kind == Kind.RECOVERED:
        return 0
    if kind == Kind.SOURCE_DOWN:
        return 1.5
    if kind == Kind.SCHEDULED:
        return 8
    if kind == Kind.SOURCE_UP:
        return 9
    if kind == Kind.STARTING:
        return 7
    if kind == Kind.REMINDER:
        return 6
    rank = 5 - State(facts.transition.to_state).severity  # outage 1 … maintenance 4
    return rank + (0.5 if kind == Kind.INITIAL else 0)


def _digest_title(facts: list[_Facts]) -> str:
    """E.g. "✅ iCloud Backup available again (+2 more: Maps: outage, Siri: issue)"."""
    ranked = sorted(facts, key=_importance)
    lead = f"{_emoji(ranked[0])} {_digest_label(ranked[0])}".strip()
    others = [_digest_label(fact) for fact in ranked[1:]]
    head = f"{cap(lead, TITLE_MAX // 2)} (+{len(others)} more: "
    budget = TITLE_MAX - len(head) - len(", …)")
    shown: list[str] = []
    for label in others:
        if len(", ".join([*shown, label])) > budget:
            break
        shown.append(label)
    if not shown:
        return cap(f"{head.removesuffix(': ')})", TITLE_MAX)
    tail = ", …)" if len(shown) < len(others) else ")"
    return cap(head + ", ".join(shown) + tail, TITLE_MAX)
