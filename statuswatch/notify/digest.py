"""One message for several transitions due to one target together, for a subscriber
with `digest` on (notify/deliver.py): a summary line each, then each full message. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from statuswatch.model import Kind, State, Transition
from statuswatch.notify.facts import Facts, facts_of
from statuswatch.notify.render import Message, message_for
from statuswatch.notify.text import TITLE_MAX, cap
from statuswatch.notify.timefmt import utc, zone_or_utc
from statuswatch.notify.words import STATE_BEFORE, STATE_NOW, emoji, planned_noun


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
    facts = [facts_of(transition, zone, status_page) for transition in ordered]
    messages = [message_for(fact, timezone, title_template, body_template) for fact in facts]
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
    return Message(title=_title(facts), body=body, kinds=kinds)


#: Where a kind stands in a digest's title whatever its state (lower first); the kinds
#: about a state are ranked by its severity, between the recovery and the announcements.
_FIXED_RANK: dict[Kind, float] = {
    Kind.RECOVERED: 0,
    Kind.SOURCE_DOWN: 1.5,
    Kind.REMINDER: 6,
    Kind.STARTING: 7,
    Kind.SCHEDULED: 8,
    Kind.SOURCE_UP: 9,
}


def _importance(facts: Facts) -> float:
    """Lower first: what a digest's title leads with. A recovery is what people wait for;
    then outages, an unreadable feed, and the rest by severity; announcements last."""
    fixed = _FIXED_RANK.get(facts.kind)
    if fixed is not None:
        return fixed
    rank = 5 - State(facts.transition.to_state).severity  # outage 1 … maintenance 4
    return rank + (0.5 if facts.kind == Kind.INITIAL else 0)


def _title(facts: list[Facts]) -> str:
    """E.g. "✅ iCloud Backup available again (+2 more: Maps: outage, Siri: issue)"."""
    ranked = sorted(facts, key=_importance)
    lead = f"{emoji(ranked[0])} {_label(ranked[0])}".strip()
    others = [_label(fact) for fact in ranked[1:]]
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


def _label(facts: Facts) -> str:
    kind, service = facts.kind, facts.service
    if kind == Kind.RECOVERED:
        return f"{service} available again"
    if kind == Kind.INITIAL:
        state = State(facts.transition.to_state)
        return f"{service}: {STATE_BEFORE[state]} (first check)"
    if kind == Kind.SCHEDULED:
        return f"{service}: {planned_noun(facts).removeprefix('an ')} scheduled"
    if kind == Kind.SOURCE_DOWN:
        return f"feed ({facts.source}) unreadable"
    if kind == Kind.SOURCE_UP:
        return f"feed ({facts.source}) readable again"
    if kind == Kind.STARTING:
        return f"{service}: {planned_noun(facts).removeprefix('an ')} starts soon"
    if kind == Kind.REMINDER:
        return f"{service}: still {STATE_NOW[State(facts.transition.to_state)]}"
    if kind == Kind.DELIVERY_FAILED:
        return f"{service}: a notification was given up"
    return f"{service}: {STATE_BEFORE[State(kind.value)]}"
