"""Turn transitions into messages people can act on (DESIGN §4): the words of each kind.

Pure: no I/O, and no apprise import (it costs ~90 ms and rendering does not need it), so
`statuswatch check` pays for apprise only when something is actually sent. A transition's
facts are gathered by notify/facts.py, feed text is neutralised by notify/text.py, times
are formatted by notify/timefmt.py and templates are checked by statuswatch/templates.py;
the names other modules import from here stay here. Several transitions due together
become one message in notify/digest.py. Bodies are plain text and are handed to apprise as
NotifyFormat.TEXT, which escapes them for HTML and Markdown channels, so HTML in the feed
is shown literally.
"""

from __future__ import annotations

from dataclasses import dataclass

from statuswatch.model import Kind, State, Transition, format_utc
from statuswatch.notify.facts import Facts, facts_of
from statuswatch.notify.samples import sample_transition
from statuswatch.notify.text import (
    APPLE_STATUS_PAGE,
    TITLE_MAX,
    cap,
    clean,
    neutralise,
    neutralise_title,
)
from statuswatch.notify.timefmt import (
    format_duration,
    load_zone,
    utc,
    validate_timezone,
    zone_or_utc,
)
from statuswatch.notify.words import (
    ICLOUD_BACKUP_CHECKS,
    STATE_AFTER,
    STATE_BEFORE,
    STATE_NOW,
    STATE_SPELL,
    emoji,
    planned_noun,
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
    "sample_transition",
    "validate_template",
    "validate_timezone",
]


@dataclass(frozen=True, slots=True)
class Message:
    """What one delivery sends: `body` is plain text, to be handed to apprise as TEXT."""

    title: str
    body: str
    kinds: tuple[str, ...]


# --- what a transition says ---------------------------------------------------------------


def _state(value: State | None) -> State | None:
    return None if value is None else State(value)


def _default_title(facts: Facts) -> str:
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
        noun = planned_noun(facts).removeprefix("an ")
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


def _default_body(facts: Facts) -> str:
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


def _apple_says(facts: Facts, *, with_window: bool = True) -> str:
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


def _plan_line(facts: Facts) -> str:
    """A recovery before the end Apple gave: that end was the plan, not what happened."""
    length = f" ({facts.window_length})" if facts.window_length else ""
    noun = "Apple had planned it for" if facts.planned else "Apple's timeline had it as"
    return f"{noun} {facts.window}{length}; it ended earlier."


def _apple_said(facts: Facts) -> str:
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


def _window_line(facts: Facts) -> str:
    if facts.ends_ahead:
        return _plan_line(facts)
    if facts.planned:
        if facts.window_length:
            return f"Maintenance window: {facts.window} ({facts.window_length})"
        return f"Maintenance window: from {facts.window} (Apple gives no end time)"
    if facts.window_length:
        return f"Apple's timeline: {facts.window} ({facts.window_length})"
    return f"Started (per Apple): {facts.window}"


def _links(facts: Facts) -> str:
    lines = [f"Status page: {facts.status_page}"]
    if facts.service_page:
        lines.append(f"About {facts.service}: {facts.service_page}")
    return "\n".join(lines)


def _recovered(facts: Facts) -> list[str]:
    previous = _state(facts.transition.from_state)
    lead = f"{facts.service} is available again as of {facts.at}"
    if previous is not None and facts.duration:
        lead += f", after {facts.duration} of {STATE_SPELL[previous]}."
    elif previous is not None:
        lead += f", after {STATE_AFTER[previous]}."
    else:
        lead += "."
    if _is_icloud_backup(facts.transition.service):
        advice = ICLOUD_BACKUP_CHECKS
    else:
        advice = "If something failed while it was unavailable, you can try again now."
    return [lead, _apple_says(facts), advice]


def _is_icloud_backup(service: str | None) -> bool:
    return " ".join((service or "").split()).casefold() == "icloud backup"


def _state_change(facts: Facts) -> list[str]:
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
        lead += f"\nBefore that: {STATE_BEFORE[previous]}"
        lead += f" for {facts.duration}." if facts.duration else "."
    return [lead, _apple_says(facts), "You will get a message when it is available again."]


def _initial(facts: Facts) -> list[str]:
    state = State(facts.transition.to_state)
    lead = f"statuswatch has started watching {facts.service}. It is {STATE_NOW[state]} right now"
    lead += "." if state == State.AVAILABLE else "; you will be told when it is back."
    lead += f"\nChecked: {facts.at}"
    return [lead, _apple_says(facts)]


def _scheduled(facts: Facts) -> list[str]:
    lines = [f"Apple has scheduled {planned_noun(facts)} for {facts.service}."]
    if facts.window:
        length = f" ({facts.window_length})" if facts.window_length else ""
        missing_end = "" if facts.window_length else " (Apple gives no end time)"
        lines.append(f"When: {facts.window}{length}{missing_end}")
    current = _state(facts.transition.from_state)
    if current is not None and current not in (State.AVAILABLE, State.UNKNOWN):
        lines.append(f"Right now it is {STATE_NOW[current]}.")
    return [
        "\n".join(lines),
        _apple_says(facts, with_window=False),
        "You will get a message when it is over.",
    ]


def _source_down(facts: Facts) -> list[str]:
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


def _source_up(facts: Facts) -> list[str]:
    lead = f"statuswatch can read Apple's status feed ({facts.source}) again as of {facts.at}."
    if facts.since:
        length = f" ({facts.duration})" if facts.duration else ""
        lead += f" It had been unreadable since {facts.since}{length}."
    return [
        lead,
        "Changes that happened meanwhile are reported in their own messages; one that began"
        " and ended while the feed was unreadable could not be seen.",
    ]


def _template_fields(facts: Facts, title: str, body: str, timezone: str) -> dict[str, str]:
    transition = facts.transition
    previous = _state(transition.from_state)
    return {
        "service": facts.service if not facts.kind.is_source_kind else "",
        "kind": facts.kind.value,
        "emoji": emoji(facts),
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
    facts = facts_of(transition, zone_or_utc(timezone), status_page)
    return message_for(facts, timezone, title_template, body_template)


def message_for(
    facts: Facts, timezone: str, title_template: str | None, body_template: str | None
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
