"""Replaying the real June 2025 history (DESIGN §2-§3) against the expected transitions and
against incidents checked by hand in SOURCES.md."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from statuswatch.model import Kind, State, Transition
from statuswatch.replay import collect, replay
from tests.conftest import EXPECTED, HISTORY

Row = tuple[str, str, str, str | None, str]


def run(folder: Path, confirm: int = 1, services: list[str] | None = None) -> list[Transition]:
    transitions: list[Transition] = []
    for _, found, error in replay(collect([folder]), services=services, confirm=confirm):
        assert error is None
        transitions.extend(found)
    return transitions


def rows(transitions: list[Transition]) -> list[Row]:
    return [
        (j["at"], j["service"], j["kind"], j["from"], j["to"])
        for j in (t.to_json() for t in transitions)
    ]


def expected_rows(feed: str) -> list[Row]:
    lines = (EXPECTED / f"history-{feed}.jsonl").read_text().splitlines()
    return [
        (j["at"], j["service"], j["kind"], j["from"], j["to"])
        for j in (json.loads(line) for line in lines if line.strip())
    ]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.mark.parametrize("feed", ["consumer", "developer"])
def test_replay_matches_the_expected_transitions(feed: str) -> None:
    assert sorted(rows(run(HISTORY / feed))) == sorted(expected_rows(feed))


def test_collect_orders_by_time_and_skips_the_index() -> None:
    files = collect([HISTORY / "consumer", HISTORY / "developer"])
    assert len(files) == 41
    assert [f.at for f in files] == sorted(f.at for f in files)
    assert all(f.path.name != "index.tsv" for f in files)
    assert files[0].at == utc("2025-06-13T20:09:13Z")


def test_flip_flop_2000004682_gives_four_transitions_per_service() -> None:
    transitions = [t for t in run(HISTORY / "consumer") if t.event.message_id == "2000004682"]
    for service in ("Apple Business Manager", "Apple School Manager"):
        mine = [t for t in transitions if t.service == service]
        assert [(t.kind, t.at) for t in mine] == [
            (Kind.ISSUE, utc("2025-06-14T21:20:50Z")),
            (Kind.RECOVERED, utc("2025-06-14T21:40:25Z")),
            (Kind.ISSUE, utc("2025-06-14T22:21:58Z")),
            (Kind.RECOVERED, utc("2025-06-14T23:24:20Z")),
        ]
        assert all(t.at.date().isoformat() == "2025-06-14" for t in mine)
    assert len(transitions) == 8


def test_podcasts_performance_2000004688() -> None:
    podcasts = [t for t in run(HISTORY / "consumer") if t.service == "Podcasts"]
    assert [(t.kind, t.from_state, t.to_state, t.at) for t in podcasts] == [
        (Kind.PERFORMANCE, State.AVAILABLE, State.PERFORMANCE, utc("2025-06-19T23:42:47Z")),
        (Kind.RECOVERED, State.PERFORMANCE, State.AVAILABLE, utc("2025-06-20T17:55:23Z")),
    ]
    recovered = podcasts[1]
    assert recovered.event.message_id == "2000004688"
    assert recovered.event.event_status == "resolved"  # the version that says it ended
    assert recovered.since == utc("2025-06-19T23:42:47Z")


def test_an_event_born_resolved_gives_no_transition() -> None:
    # 2000004689 (FaceTime, iMessage) first appeared already resolved, then had its start
    # time edited: neither is a change of state.
    transitions = run(HISTORY / "consumer")
    assert not [t for t in transitions if t.service in ("FaceTime", "iMessage")]
    assert not [t for t in transitions if t.event and t.event.message_id == "2000004689"]


def test_icloud_web_apps_added_to_2000004686_only_when_resolved_gives_nothing() -> None:
    transitions = run(HISTORY / "consumer")
    assert not [t for t in transitions if t.service == "iCloud Web Apps (iCloud.com)"]
    incident = [t for t in transitions if t.event and t.event.message_id == "2000004686"]
    assert sorted((t.service, t.kind) for t in incident) == [
        ("Apple Business Manager", Kind.ISSUE),
        ("Apple Business Manager", Kind.RECOVERED),
        ("Schoolwork", Kind.OUTAGE),
        ("Schoolwork", Kind.RECOVERED),
    ]


def test_watched_subset_and_unknown_service() -> None:
    watched = ["podcasts", "iCloud Backup", "No Such Service"]
    transitions = run(HISTORY / "consumer", services=watched)
    assert [(t.service, t.kind) for t in transitions] == [
        ("Podcasts", Kind.PERFORMANCE),
        ("Podcasts", Kind.RECOVERED),
    ]


# confirm=2, derived from the event table in SOURCES.md: a state must be seen in two
# consecutive files. The flip-flop (each state one file), 2000004686 (ongoing in one
# consumer file) and 2000004687 (ongoing in one developer file) are filtered. Podcasts
# was ongoing in 06-19 23-42 and 06-20 08-31, available from 06-20 17-55 and 06-21 08-28;
# App Attest ongoing in 06-15 05-44 and 08-28, available from 06-15 23-41 and 06-16 08-33.
CONFIRM_2 = {
    "consumer": [
        ("2025-06-20T08:31:55Z", "Podcasts", "performance", "available", "performance"),
        ("2025-06-21T08:28:41Z", "Podcasts", "recovered", "performance", "available"),
    ],
    "developer": [
        ("2025-06-15T08:28:29Z", "App Attest", "performance", "available", "performance"),
        ("2025-06-16T08:33:35Z", "App Attest", "recovered", "performance", "available"),
    ],
}


@pytest.mark.parametrize("feed", ["consumer", "developer"])
def test_confirm_two_filters_the_one_file_states(feed: str) -> None:
    transitions = run(HISTORY / feed, confirm=2)
    assert rows(transitions) == CONFIRM_2[feed]
    # The state left began when it was first seen, not when it was confirmed.
    first_seen = {"consumer": "2025-06-19T23:42:47Z", "developer": "2025-06-15T05:44:25Z"}
    assert transitions[1].since == utc(first_seen[feed])


# --- synthetic iCloud Backup maintenance ---------------------------------------------

BASE = HISTORY / "consumer/2025-06-17T08-35-53Z.json"  # nearest to all clear


def ms(text: str) -> int:
    return int(utc(text).timestamp() * 1000)


def with_backup_event(status: str, start: str, end: str) -> bytes:
    document = json.loads(BASE.read_text())
    (backup,) = [s for s in document["services"] if s["serviceName"] == "iCloud Backup"]
    backup["events"] = [
        {
            "usersAffected": "Some users will be affected",
            "epochStartDate": ms(start),
            "epochEndDate": ms(end),
            "messageId": "2000009001",
            "statusType": "Maintenance",
            "datePosted": "06/17/2025 01:00 PDT",
            "startDate": "06/18/2025 22:00 PDT",
            "endDate": "06/19/2025 02:00 PDT",
            "affectedServices": None,
            "eventStatus": status,
            "message": "Due to scheduled maintenance, iCloud Backup will be unavailable.",
        }
    ]
    return json.dumps(document, separators=(",", ":")).encode()


def test_synthetic_icloud_backup_maintenance(tmp_path: Path) -> None:
    start, end = "2025-06-19T05:00:00Z", "2025-06-19T09:00:00Z"
    shutil.copy(BASE, tmp_path / "2025-06-17T08-00-00Z.json")  # baseline, no event
    steps = {
        "2025-06-17T09-00-00Z": with_backup_event("upcoming", start, end),  # planned
        "2025-06-18T12-00-00Z": with_backup_event("upcoming", start, end),  # still planned
        "2025-06-19T06-00-00Z": with_backup_event("upcoming", start, end),  # in its window
        "2025-06-19T07-00-00Z": with_backup_event("ongoing", start, end),
        "2025-06-19T07-30-00Z": b"<html><body>Service Unavailable</body></html>",  # no data
        "2025-06-19T08-00-00Z": with_backup_event("completed", start, end),
        "2025-06-19T09-30-00Z": with_backup_event("completed", start, end),
    }
    for stamp, body in steps.items():
        (tmp_path / f"{stamp}.json").write_bytes(body)

    results = list(replay(collect([tmp_path]), services=["iCloud Backup"]))
    errors = [error for _, _, error in results if error]
    assert len(errors) == 1 and "HTML" in errors[0]
    found = [t for _, transitions, _ in results for t in transitions]
    assert [(format_at(t), t.kind, t.from_state, t.to_state) for t in found] == [
        ("2025-06-17T09:00:00Z", Kind.SCHEDULED, State.AVAILABLE, State.AVAILABLE),
        ("2025-06-19T06:00:00Z", Kind.MAINTENANCE, State.AVAILABLE, State.MAINTENANCE),
        ("2025-06-19T08:00:00Z", Kind.RECOVERED, State.MAINTENANCE, State.AVAILABLE),
    ]
    assert all(t.service == "iCloud Backup" for t in found)
    assert all(t.event.message_id == "2000009001" for t in found)
    assert found[2].event.event_status == "completed"
    assert found[2].since == utc("2025-06-19T06:00:00Z")


def test_synthetic_maintenance_at_install_time_is_initial(tmp_path: Path) -> None:
    start, end = "2025-06-19T05:00:00Z", "2025-06-19T09:00:00Z"
    (tmp_path / "2025-06-19T06-00-00Z.json").write_bytes(with_backup_event("ongoing", start, end))
    (tmp_path / "2025-06-19T08-30-00Z.json").write_bytes(with_backup_event("completed", start, end))
    found = [t for _, ts, _ in replay(collect([tmp_path]), services=["iCloud Backup"]) for t in ts]
    assert [(t.kind, t.from_state, t.to_state) for t in found] == [
        (Kind.INITIAL, None, State.MAINTENANCE),
        (Kind.RECOVERED, State.MAINTENANCE, State.AVAILABLE),
    ]


def format_at(transition: Transition) -> str:
    return transition.to_json()["at"]
