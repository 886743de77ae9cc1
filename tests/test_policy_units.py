"""DESIGN §4a pure logic, driven directly: quiet-hours windows (midnight, DST), folding
a night's changes, when `starting` and `reminder` messages are due, and screening rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from statuswatch.model import Event, Kind, Observation, State, Transition, to_epoch_ms
from statuswatch.notify.catchup import render_catch_up
from statuswatch.notify.policy import (
    Policy,
    due_reminders,
    due_starting,
    screen,
    silence_matches,
)
from statuswatch.quiet import Change, QuietWindow, fold
from statuswatch.tracker import ServiceTrack, planned_key

PARIS = ZoneInfo("Europe/Paris")
NIGHT = QuietWindow.parse("22:00-07:00")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)  # type: ignore[misc]


# -- windows -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["25:00-07:00", "22:00", "22:60-07:00", "10pm-7am", "", "07:00-07:00"]
)
def test_a_bad_window_is_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(ValueError, match=r"22:00-07:00|same time"):
        QuietWindow.parse(text)


def test_a_window_across_midnight_holds_until_the_next_morning() -> None:
    assert NIGHT.end_after(paris(2026, 6, 10, 21, 59), PARIS) is None
    assert NIGHT.end_after(paris(2026, 6, 10, 22, 0), PARIS) == paris(2026, 6, 11, 7, 0)
    assert NIGHT.end_after(paris(2026, 6, 10, 23, 10), PARIS) == paris(2026, 6, 11, 7, 0)
    assert NIGHT.end_after(paris(2026, 6, 11, 2, 40), PARIS) == paris(2026, 6, 11, 7, 0)
    assert NIGHT.end_after(paris(2026, 6, 11, 7, 0), PARIS) is None


def test_a_daytime_window_ends_the_same_day() -> None:
    lunch = QuietWindow.parse("12:00-13:30")
    assert lunch.end_after(paris(2026, 6, 10, 12, 15), PARIS) == paris(2026, 6, 10, 13, 30)
    assert lunch.end_after(paris(2026, 6, 10, 13, 30), PARIS) is None


def test_the_night_the_clocks_go_forward_ends_at_seven_local_time() -> None:
    # Europe/Paris, last Sunday of March 2027 (the 28th): 02:00 CET -> 03:00 CEST.
    end = NIGHT.end_after(paris(2027, 3, 27, 23, 0), PARIS)
    assert end == datetime(2027, 3, 28, 5, 0, tzinfo=UTC)  # 07:00 CEST, a 8-hour night
    assert end - datetime(2027, 3, 27, 21, 0, tzinfo=UTC) == timedelta(hours=8)
    # ... and the night the clocks go back (31 October 2027) is 10 hours long.
    autumn = NIGHT.end_after(paris(2027, 10, 30, 22, 0), PARIS)
    assert autumn == datetime(2027, 10, 31, 6, 0, tzinfo=UTC)


def test_a_window_ending_inside_the_spring_gap_ends_after_it() -> None:
    odd = QuietWindow.parse("01:00-02:30")
    end = odd.end_after(datetime(2027, 3, 28, 0, 30, tzinfo=UTC), PARIS)  # 01:30 CET
    assert end is not None and end.astimezone(PARIS).hour == 3  # 02:30 does not exist


# -- folding -------------------------------------------------------------------------------


def _hhmm(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%H:%M")


def _change(kind: Kind, before: State, after: State, at: datetime) -> Change:
    return Change(str(kind), "iCloud Backup", before, after, at, text=f"{kind} title")


def test_changes_that_undo_each_other_fold_into_one_line() -> None:
    night = [
        _change(Kind.MAINTENANCE, State.AVAILABLE, State.MAINTENANCE, paris(2026, 6, 10, 23, 10)),
        _change(Kind.RECOVERED, State.MAINTENANCE, State.AVAILABLE, paris(2026, 6, 11, 2, 40)),
    ]
    (line,) = fold(night, _hhmm)
    assert line.line == (
        "iCloud Backup was under maintenance 23:10–02:40; available again since 02:40"
    )
    assert line.folded == 2 and line.final.kind == "recovered"


def test_a_flap_folds_every_interval_and_drops_the_reminders_it_makes_stale() -> None:
    night = [
        _change(Kind.OUTAGE, State.AVAILABLE, State.OUTAGE, paris(2026, 6, 11, 1, 0)),
        _change(Kind.RECOVERED, State.OUTAGE, State.AVAILABLE, paris(2026, 6, 11, 1, 5)),
        _change(Kind.REMINDER, State.OUTAGE, State.OUTAGE, paris(2026, 6, 11, 1, 4)),
        _change(Kind.STARTING, State.OUTAGE, State.OUTAGE, paris(2026, 6, 11, 1, 6)),
        _change(Kind.OUTAGE, State.AVAILABLE, State.OUTAGE, paris(2026, 6, 11, 1, 20)),
        _change(Kind.RECOVERED, State.OUTAGE, State.AVAILABLE, paris(2026, 6, 11, 1, 30)),
    ]
    (line,) = fold(night, _hhmm)
    assert line.line == (
        "iCloud Backup was having an outage 01:00–01:05 and 01:20–01:30; "
        "available again since 01:30"
    )


def test_a_change_that_still_holds_in_the_morning_says_since_when() -> None:
    night = [_change(Kind.OUTAGE, State.AVAILABLE, State.OUTAGE, paris(2026, 6, 11, 3, 0))]
    assert fold(night, _hhmm)[0].line == "iCloud Backup: having an outage since 03:00"


def _transition(kind: Kind, before: State, after: State, at: datetime) -> Transition:
    return Transition("apple", "iCloud Backup", kind, before, after, at, at - timedelta(hours=1))


def test_the_catch_up_message_has_the_folded_line_then_the_recovery_checklist() -> None:
    message = render_catch_up(
        [
            _transition(
                Kind.MAINTENANCE, State.AVAILABLE, State.MAINTENANCE, paris(2026, 6, 10, 23, 10)
            ),
            _transition(
                Kind.RECOVERED, State.MAINTENANCE, State.AVAILABLE, paris(2026, 6, 11, 2, 40)
            ),
        ],
        timezone="Europe/Paris",
        window="22:00-07:00",
        status_page=None,
    )
    line = "iCloud Backup was under maintenance 23:10–02:40; available again since 02:40"
    assert line in message.title and message.title.startswith("🌙")
    assert f"- {line}" in message.body
    assert "held 2 messages" in message.body
    assert "Back Up Now" in message.body  # the recovered message's checklist follows
    assert "scheduled maintenance now in progress" not in message.body  # not a stale one


# -- due times ---------------------------------------------------------------------------

START = datetime(2026, 6, 12, 18, 0, tzinfo=UTC)
PLANNED = Event(
    message_id="m1",
    status_type="Maintenance",
    event_status="scheduled",
    message="iCloud Backup will be unavailable.",
    epoch_start_ms=to_epoch_ms(START),
    epoch_end_ms=to_epoch_ms(START + timedelta(hours=1)),
)
REMIND = Policy(zone=PARIS, timezone="Europe/Paris", remind_before=(86400.0, 3600.0))


def _starting(now: datetime, event: Event = PLANNED, seen: datetime | None = None) -> list:
    observation = Observation("iCloud Backup", State.AVAILABLE, planned=(event,))
    first = {planned_key("iCloud Backup", event.message_id): seen or START - timedelta(days=3)}
    return due_starting("me", REMIND, "apple", [observation], {}, first, now)


def test_a_starting_reminder_is_due_at_each_offset_with_its_own_key() -> None:
    assert _starting(START - timedelta(hours=25)) == []
    (day,) = _starting(START - timedelta(hours=24))
    (hour,) = _starting(START - timedelta(minutes=59))
    assert (day.extra, hour.extra) == ({"offset": 86400.0}, {"offset": 3600.0})
    assert day.key_for("t") != hour.key_for("t")
    assert day.key_for("t") == _starting(START - timedelta(hours=20))[0].key_for("t")
    assert _starting(START) == []  # started: the `maintenance` change says so


def test_a_moved_start_gets_a_new_key_and_an_event_announced_late_skips_past_offsets() -> None:
    (before,) = _starting(START - timedelta(minutes=30))
    later = START + timedelta(hours=2)
    moved = PLANNED._replace(epoch_start_ms=to_epoch_ms(later))
    # Apple moved it 2 h later: one reminder now gives the new time, then the 1 h one.
    (moved_now,) = _starting(START - timedelta(minutes=30), moved)
    assert "starts in 2 h 30 min" in _title(moved_now)
    (after,) = _starting(later - timedelta(minutes=30), moved)
    keys = {before.key_for("t"), moved_now.key_for("t"), after.key_for("t")}
    assert len(keys) == 3
    # First seen 3 h before its start: the 24 h reminder is not sent late.
    assert _starting(START - timedelta(hours=2), seen=START - timedelta(hours=3)) == []


def _title(due: object) -> str:
    from statuswatch.notify.render import render

    return render(due.transition).title  # type: ignore[attr-defined]


@dataclass
class _T:
    service: str
    state: State | None
    since: datetime | None
    cause: Event | None = None


def test_a_reminder_is_due_once_per_period_and_only_the_latest_after_a_gap() -> None:
    policy = Policy(zone=PARIS, timezone="Europe/Paris", repeat_every=6 * 3600.0)
    since = datetime(2026, 6, 12, 18, 2, tzinfo=UTC)
    track = _T("iCloud Backup", State.MAINTENANCE, since)

    def due(hours: float) -> list:
        return due_reminders("me", policy, "apple", [track], {}, since + timedelta(hours=hours))

    assert due(5.9) == []
    first = due(6)[0]
    assert first.extra == {"period": 1} and first.key_for("t") == due(11)[0].key_for("t")
    assert due(19)[0].extra == {"period": 3}  # down for two periods: one reminder
    recovered = _T("iCloud Backup", State.AVAILABLE, since)
    assert due_reminders("me", policy, "apple", [recovered], {}, since + timedelta(days=1)) == []
    assert isinstance(ServiceTrack("x").state, type(None))


# -- screening -------------------------------------------------------------------------------


@dataclass
class _Row:
    id: int
    kind: str
    transition: Transition
    subscriber: str = "me"
    held_until: datetime | None = None


@dataclass
class _S:
    id: int
    service: str | None = None
    subscriber: str | None = None
    kind: str | None = None


def test_silence_matchers_all_have_to_hold() -> None:
    assert silence_matches(_S(1), "me", None, "source_down")
    assert silence_matches(_S(1, service="icloud backup"), "me", "iCloud Backup", "outage")
    assert not silence_matches(_S(1, service="Maps"), "me", "iCloud Backup", "outage")
    assert not silence_matches(_S(1, service="Maps"), "me", None, "source_down")
    assert not silence_matches(_S(1, subscriber="you"), "me", "Maps", "outage")
    assert not silence_matches(_S(1, kind="recovered", service="Maps"), "me", "Maps", "outage")


def test_quiet_hours_hold_all_but_urgent_kinds_and_release_held_rows_as_a_catch_up() -> None:
    policy = Policy(zone=PARIS, timezone="Europe/Paris", quiet=NIGHT, urgent=frozenset({"outage"}))
    night = paris(2026, 6, 11, 1, 0)
    t = _transition(Kind.MAINTENANCE, State.AVAILABLE, State.MAINTENANCE, night)
    rows = [_Row(1, "maintenance", t), _Row(2, "outage", t), _Row(3, "recovered", t)]
    inside = screen(rows, policy, [], night)
    assert [r.id for r in inside.send] == [2]
    assert [r.id for r in inside.hold] == [1, 3]
    assert inside.hold_until == paris(2026, 6, 11, 7, 0)
    morning = paris(2026, 6, 11, 7, 0)
    held = [
        _Row(1, "maintenance", t, held_until=morning),
        _Row(3, "recovered", t, held_until=morning),
    ]
    after = screen([*held, _Row(4, "issue", t)], policy, [_S(9, kind="issue")], morning)
    assert [r.id for r in after.catch_up] == [1, 3]
    assert after.send == [] and list(after.silenced) == [9]


# -- silence add --until ------------------------------------------------------------------


def test_until_reads_a_naive_time_in_the_configured_zone_and_refuses_the_past() -> None:
    from statuswatch.cli_common import UsageError
    from statuswatch.cli_policy import parse_until

    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    # Paris is UTC+1 in December: 14:30 there is 13:30 UTC.
    assert parse_until("2026-12-02T14:30", "Europe/Paris", now) == datetime(
        2026, 12, 2, 13, 30, tzinfo=UTC
    )
    assert parse_until("2026-12-02T14:30Z", "Europe/Paris", now) == datetime(
        2026, 12, 2, 14, 30, tzinfo=UTC
    )
    with pytest.raises(UsageError, match="is not a time; write it like"):
        parse_until("tomorrow-ish", "UTC", now)
    with pytest.raises(UsageError, match="is in the past"):
        parse_until("2026-12-01T08:00", "UTC", now)
