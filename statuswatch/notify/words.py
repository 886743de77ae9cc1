"""The words and emoji statuswatch uses for states and kinds, shared by the messages
(render.py) and the digests that gather several of them (digest.py)."""

from __future__ import annotations

from statuswatch.model import Kind, State
from statuswatch.notify.facts import Facts

TITLE_EMOJI: dict[Kind, str] = {
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
STATE_EMOJI: dict[State, str] = {
    State.AVAILABLE: "✅",
    State.MAINTENANCE: "🔧",
    State.OUTAGE: "🔴",
    State.ISSUE: "🟠",
    State.PERFORMANCE: "🟡",
    State.UNKNOWN: "",
}
# "It is ___ right now"
STATE_NOW: dict[State, str] = {
    State.AVAILABLE: "available",
    State.MAINTENANCE: "under maintenance",
    State.OUTAGE: "having an outage",
    State.ISSUE: "having an issue",
    State.PERFORMANCE: "running with degraded performance",
    State.UNKNOWN: "in an unknown state",
}
# "after 2 h of ___"
STATE_SPELL: dict[State, str] = {
    State.AVAILABLE: "normal service",
    State.MAINTENANCE: "maintenance",
    State.OUTAGE: "outage",
    State.ISSUE: "issues",
    State.PERFORMANCE: "degraded performance",
    State.UNKNOWN: "no data",
}
# "after ___" when the duration is unknown
STATE_AFTER: dict[State, str] = {
    State.AVAILABLE: "normal service",
    State.MAINTENANCE: "maintenance",
    State.OUTAGE: "an outage",
    State.ISSUE: "an issue",
    State.PERFORMANCE: "a period of degraded performance",
    State.UNKNOWN: "a period without data",
}
# "Before that: ___ for 3 d 4 h."
STATE_BEFORE: dict[State, str] = {
    State.AVAILABLE: "available",
    State.MAINTENANCE: "under maintenance",
    State.OUTAGE: "outage",
    State.ISSUE: "issue",
    State.PERFORMANCE: "degraded performance",
    State.UNKNOWN: "no data",
}
STATUS_NOUN: dict[str, str] = {
    "maintenance": "maintenance",
    "outage": "an outage",
    "issue": "an issue",
    "performance": "degraded performance",
}

ICLOUD_BACKUP_CHECKS = (
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


def planned_noun(facts: Facts) -> str:
    word = facts.status_type.casefold()
    return STATUS_NOUN.get(word, word or "an event")


def emoji(facts: Facts) -> str:
    if facts.kind == Kind.INITIAL:
        return STATE_EMOJI[State(facts.transition.to_state)]
    return TITLE_EMOJI[facts.kind]
