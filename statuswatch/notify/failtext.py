"""The words of a `delivery_failed` message (DESIGN §4): pure, no I/O.

Sent once per given-up outbox row, to the other targets of subscribers who list
`delivery_failed` in `kinds`, so an operator hears that a channel stayed broken.
"""

from __future__ import annotations

from collections.abc import Mapping

from statuswatch.model import Transition
from statuswatch.notify.text import TITLE_MAX, cap, clean, neutralise
from statuswatch.notify.timefmt import format_moment, zone_or_utc


def failure_extra(
    subscriber: str, target_label: str, kind: str, attempts: int, error: str
) -> dict[str, object]:
    """What a `delivery_failed` row's payload carries besides the dead row's transition.
    `target_label` is the masked form and `error` is already redacted."""
    return {
        "subscriber": subscriber,
        "target": target_label,
        "of_kind": kind,
        "attempts": attempts,
        "error": error,
    }


def render_delivery_failed(
    transition: Transition, extra: Mapping[str, object], *, timezone: str
) -> tuple[str, str]:
    """Title and body: who was not told what, through which (masked) target, and why."""
    subscriber = str(extra.get("subscriber") or "a subscriber")
    target = str(extra.get("target") or "one of its targets")
    what = str(extra.get("of_kind") or "a notification")
    about = transition.service or transition.source
    attempts = extra.get("attempts")
    error = neutralise(str(extra.get("error") or "no reason given"), max_len=300)
    zone = zone_or_utc(timezone)
    title = cap(clean(f"⚠️ A notification to {subscriber} was given up", one_line=True), TITLE_MAX)
    body = "\n".join(
        [
            f"statuswatch gave up delivering a {what} message about "
            f"{neutralise(about, max_len=100)} to {subscriber} through {target}"
            + (f" after {attempts} attempt(s)." if attempts else "."),
            f"The change it was about happened at {format_moment(transition.at, zone)}.",
            f"Last error: {error}",
            "Fix the channel, then run `statuswatch outbox retry ID` (it delivers now) or "
            "`statuswatch outbox drop ID`; `statuswatch outbox` lists the row.",
        ]
    )
    return title, body
