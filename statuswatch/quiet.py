"""DESIGN §4a quiet hours and folding: pure window math and the catch-up's lines.

No I/O. Times are aware datetimes; a window is wall-clock time in the subscriber's zone,
so "22:00-07:00" ends at 07:00 local time even on the night the clocks change (the
window is then an hour shorter or longer in real time).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from statuswatch.model import Kind, State

TimeOfDay = Callable[[datetime], str]

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class QuietWindow:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietWindow:
        """`"22:00-07:00"` (may cross midnight); ValueError with a sentence otherwise."""
        match = _WINDOW.match(text) if isinstance(text, str) else None
        problem = f"{text!r} is not a time window; write it like '22:00-07:00' (24-hour clock)"
        if match is None:
            raise ValueError(problem)
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if not (h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60):
            raise ValueError(problem)
        if (h1, m1) == (h2, m2):
            raise ValueError(f"{text!r} starts and ends at the same time; leave it out instead")
        return cls(time(h1, m1), time(h2, m2))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, moment: datetime, zone: tzinfo) -> bool:
        wall = moment.astimezone(zone).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def end_after(self, moment: datetime, zone: tzinfo) -> datetime | None:
        """When the window `moment` falls in ends (UTC), or None if it is outside."""
        if not self.contains(moment, zone):
            return None
        local = moment.astimezone(zone)
        wall = local.time().replace(tzinfo=None)
        day = local.date()
        if self.start > self.end and wall >= self.start:
            day += timedelta(days=1)  # 23:30 inside "22:00-07:00": the end is tomorrow
        # A wall time inside a spring-forward gap (02:30 on the night the clocks go
        # 02:00 -> 03:00) is read with the offset before the gap, which lands after it.
        end = datetime.combine(day, self.end).replace(tzinfo=zone).astimezone(UTC)
        return end if end > moment else moment


# -- folding the night's changes -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One held row, as the catch-up sees it."""

    kind: str
    subject: str  # the service, or "Apple's status feed (consumer)" for source kinds
    from_state: State | None
    to_state: State
    at: datetime
    since: datetime | None = None
    text: str = ""  # the row's own one-line title, for kinds that are not folded


@dataclass(frozen=True, slots=True)
class Fold:
    """What one subject did during the window: one line of the catch-up."""

    subject: str
    line: str
    final: Change  # the last change, whose full message follows the summary
    folded: int  # how many held rows this line stands for


_WAS = {
    State.MAINTENANCE: "under maintenance",
    State.OUTAGE: "having an outage",
    State.ISSUE: "having an issue",
    State.PERFORMANCE: "running with degraded performance",
    State.UNKNOWN: "without data",
    State.AVAILABLE: "available",
}
_STATE_KINDS = frozenset(
    {
        Kind.RECOVERED,
        Kind.OUTAGE,
        Kind.ISSUE,
        Kind.PERFORMANCE,
        Kind.MAINTENANCE,
        Kind.INITIAL,
    }
)


def fold(changes: Sequence[Change], clock: TimeOfDay) -> list[Fold]:
    """One line per subject, oldest first. State changes become the intervals the
    subject spent in each state, ending with where it is now: "iCloud Backup was under
    maintenance 23:10–02:40; available again since 02:40". A `reminder` or `starting`
    message is dropped when a state change of the same subject says more; other
    announcements keep their own line.

    `clock(moment)` formats a time of day for the reader ("02:40").
    """
    by_subject: dict[str, list[Change]] = {}
    for change in sorted(changes, key=lambda c: c.at):
        by_subject.setdefault(change.subject, []).append(change)
    folds: list[Fold] = []
    for subject, items in by_subject.items():
        states = [c for c in items if c.kind in _STATE_KINDS]
        sources = [c for c in items if c.kind in (Kind.SOURCE_DOWN, Kind.SOURCE_UP)]
        others = [c for c in items if c not in states and c not in sources]
        if states:
            folds.append(_fold_states(subject, states, clock))
            # "still down" and "starts in 1 h" are stale once a change of the same
            # subject says where it stands now.
            others = [c for c in others if c.kind not in (Kind.REMINDER, Kind.STARTING)]
        if sources:
            folds.append(_fold_source(subject, sources, clock))
        reminders = [c for c in others if c.kind == Kind.REMINDER]
        if reminders:
            last = reminders[-1]
            folds.append(Fold(subject, last.text, last, len(reminders)))
        folds.extend(Fold(subject, c.text, c, 1) for c in others if c.kind != Kind.REMINDER)
    return sorted(folds, key=lambda f: f.final.at)


def _fold_states(subject: str, states: list[Change], clock: TimeOfDay) -> Fold:
    spans: dict[State, list[str]] = {}
    for change, after in zip(states, [*states[1:], None], strict=True):
        if after is None or change.to_state == State.AVAILABLE:
            continue
        spans.setdefault(change.to_state, []).append(f"{clock(change.at)}–{clock(after.at)}")
    last = states[-1]
    parts = [f"was {_WAS[state]} {' and '.join(times)}" for state, times in spans.items()]
    if last.to_state == State.AVAILABLE:
        now = f"available again since {clock(last.at)}"
    else:
        now = f"{_WAS[last.to_state]} since {clock(last.at)}"
    if parts:
        line = f"{subject} {', '.join(parts)}; {now}"
    else:
        line = f"{subject}: {now}" if last.to_state != State.AVAILABLE else f"{subject} {now}"
    return Fold(subject, line, last, len(states))


def _fold_source(subject: str, sources: list[Change], clock: TimeOfDay) -> Fold:
    last = sources[-1]
    downs = [c for c in sources if c.kind == Kind.SOURCE_DOWN]
    if last.kind == Kind.SOURCE_UP and downs:
        line = f"statuswatch could not read {subject} from {clock(downs[0].at)} to {clock(last.at)}"
    elif last.kind == Kind.SOURCE_UP:
        line = f"statuswatch can read {subject} again since {clock(last.at)}"
    else:
        line = f"statuswatch cannot read {subject} since {clock(downs[0].at)}"
    return Fold(subject, line, last, len(sources))
