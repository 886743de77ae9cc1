"""DESIGN §4a at delivery time: what silences and quiet hours do to claimed rows.

The deliverer (deliver.py) hands each group of claimed rows of one (subscriber, target)
to `PolicyGate.screen()` before sending: silenced rows are set aside for good (`silenced`,
never sent), rows inside the subscriber's quiet hours are held (back to `pending`, due at
the window's end), and rows that were held come back as the catch-up, rendered by
`catch_up()` as one message. The decisions are notify/policy.py's (pure); this module
only applies them to the store. Kept apart from deliver.py so that either can change
without the other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from statuswatch.clock import Clock
from statuswatch.notify.catchup import render_catch_up
from statuswatch.notify.policy import policy_of, screen
from statuswatch.notify.render import Message
from statuswatch.store import OutboxRow, Silence, Store

log = logging.getLogger("statuswatch.deliver")


def is_held(row: OutboxRow) -> bool:
    """Held by quiet hours and not yet due: waiting for a window to end, not for a retry
    (so `check` does not report it as undelivered)."""
    return row.held_until is not None and row.next_attempt_at <= row.held_until


def lead_kind(rows: Sequence[OutboxRow]) -> str:
    """The kind that sets a message's apprise type: the first row's; for a catch-up
    (held rows), the latest change's, since that is where things stand now."""
    if rows[0].held_until is not None:
        return max(rows, key=lambda row: (row.transition.at, row.id)).kind
    return rows[0].kind


class PolicyGate:
    def __init__(self, settings: Any, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.silences: list[Silence] = []

    def refresh(self, now: datetime) -> None:
        """Read the active silences (at every delivery: one added while a daemon runs
        counts at once)."""
        self.silences = self.store.active_silences(now)

    def screen(
        self, subscriber: Any, rows: list[OutboxRow]
    ) -> tuple[list[OutboxRow], list[OutboxRow]]:
        """Apply silences and quiet hours; returns (rows to send now, rows for the
        catch-up). Rows set aside are already written back to the store."""
        now = self.clock()
        policy = policy_of(subscriber, self.settings)
        screened = screen(rows, policy, self.silences, now)
        for silence_id, silenced in screened.silenced.items():
            self.store.mark_silenced([row.id for row in silenced], silence_id, now)
            for row in silenced:
                log.info(
                    "silenced (silence %d): %s/%s for %s (%s)",
                    silence_id,
                    row.kind,
                    row.transition.service or row.transition.source,
                    row.subscriber,
                    row.target_label,
                )
        if screened.hold and screened.hold_until is not None:
            self.store.hold([row.id for row in screened.hold], screened.hold_until)
            log.info(
                "quiet hours of %s: holding %d message(s) until %s",
                subscriber.name,
                len(screened.hold),
                screened.hold_until.isoformat(),
            )
        return screened.send, screened.catch_up

    def catch_up(
        self, subscriber: Any, rows: list[OutboxRow], render_options: dict[str, Any]
    ) -> Message:
        """The one message a target gets for its held rows when its quiet hours end."""
        policy = policy_of(subscriber, self.settings)
        return render_catch_up(
            [row.transition for row in rows],
            window=str(policy.quiet) if policy.quiet else "quiet hours",
            **render_options,
        )
