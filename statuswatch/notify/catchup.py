"""The quiet-hours catch-up (DESIGN §4a): one message per target when its quiet hours end,
a folded summary of what was held, then the full message of each subject's last change.
Pure. It sits above render.py and policytext.py, which know nothing of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from statuswatch.model import Kind, State, Transition
from statuswatch.notify.policytext import service_name
from statuswatch.notify.render import Message, render
from statuswatch.notify.text import TITLE_MAX, cap, clean
from statuswatch.notify.timefmt import local, utc, zone_or_utc
from statuswatch.quiet import Change, fold


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
        subject = service_name(transition)
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
