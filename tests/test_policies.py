"""DESIGN §4a policies driven through time against real local peers (issue 11).

`statuswatch check` runs (tests/harness.py) with its clock pinned by STATUSWATCH_NOW, or
`statuswatch run` runs as a daemon; the feed and the webhooks are tests/peers.FeedServer on
127.0.0.1, mail goes to aiosmtpd (tests/peers.SmtpSink), and each test counts what each
target received.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from statuswatch.model import to_epoch_ms
from statuswatch.store import SqliteStore
from tests.conftest import HISTORY
from tests.harness import Statuswatch
from tests.peers import FeedServer, PeerHTTPServer, SmtpSink, free_port

BASE_FEED = json.loads((HISTORY / "consumer" / "2025-06-14T21-20-50Z.json").read_text())
BACKUP = "iCloud Backup"
MAIL = "iCloud Mail"
PARIS = ZoneInfo("Europe/Paris")
REPO = Path(__file__).resolve().parent.parent


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)  # type: ignore[misc]


def event(
    status: str = "ongoing",
    kind: str = "Maintenance",
    *,
    start: datetime,
    end: datetime | None = None,
    message_id: str = "900001",
) -> dict[str, Any]:
    end = end or start + timedelta(hours=3)
    return {
        "messageId": message_id,
        "statusType": kind,
        "eventStatus": status,
        "epochStartDate": to_epoch_ms(start),
        "epochEndDate": to_epoch_ms(end),
        "message": f"iCloud Backup: {kind.lower()} ({status}).",
        "usersAffected": "Some users are affected",
        "affectedServices": None,
        "startDate": start.strftime("%m/%d/%Y %H:%M UTC"),
        "endDate": end.strftime("%m/%d/%Y %H:%M UTC"),
        "datePosted": start.strftime("%m/%d/%Y %H:%M UTC"),
    }


def feed(**events: list[dict[str, Any]]) -> bytes:
    """The base capture with some services' events replaced (iCloud_Backup=[...])."""
    document = copy.deepcopy(BASE_FEED)
    wanted = {name.replace("_", " "): value for name, value in events.items()}
    for service in document["services"]:
        if service["serviceName"] in (BACKUP, MAIL):
            service["events"] = []
        if service["serviceName"] in wanted:
            service["events"] = wanted.pop(service["serviceName"])
    assert not wanted
    return json.dumps(document).encode()


AVAILABLE = feed()


@pytest.fixture
def http_sink() -> Iterator[FeedServer]:
    with FeedServer() as sink:
        yield sink


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def sw(tmp_path: Path, http_sink: FeedServer) -> Statuswatch:
    return Statuswatch(tmp_path, http_sink, services=[BACKUP, MAIL])


# -- quiet hours ------------------------------------------------------------------------

FOLDED = "iCloud Backup was under maintenance 23:10–02:40; available again since 02:40"


def test_quiet_hours_across_midnight_fold_the_night_into_one_catch_up_per_target(
    sw: Statuswatch, smtp_sink: SmtpSink
) -> None:
    sw.subscribe(
        "night-owl",
        [sw.hook("/hook"), smtp_sink.mailto()],
        timezone="Europe/Paris",
        quiet_hours="22:00-07:00",
    )
    start = paris(2025, 6, 14, 23, 10)
    maintenance = feed(iCloud_Backup=[event(start=start)])
    over = feed(iCloud_Backup=[event("completed", start=start, end=paris(2025, 6, 15, 2, 40))])
    sw.check(paris(2025, 6, 14, 21, 0), AVAILABLE)  # a silent baseline
    sw.check(start, maintenance)
    sw.check(paris(2025, 6, 15, 2, 40), over)
    sw.check(paris(2025, 6, 15, 6, 59))
    assert sw.sink.accepted() == [] and smtp_sink.mails == []
    held = sw.outbox(paris(2025, 6, 15, 6, 59))
    assert {(row["kind"], row["held_until"]) for row in held} == {
        ("maintenance", "2025-06-15T05:00:00Z"),
        ("recovered", "2025-06-15T05:00:00Z"),
    }
    # Nothing ran at 07:00 (the machine was asleep): the next run sends the catch-up.
    sw.check(paris(2025, 6, 15, 9, 30))
    sw.check(paris(2025, 6, 15, 9, 35))
    (title,) = sw.titles("/hook")
    assert FOLDED in title
    (body,) = sw.bodies("/hook")
    assert f"- {FOLDED}" in body and "Back Up Now" in body
    (mail,) = smtp_sink.mails
    assert FOLDED in mail.text() and "Back Up Now" in mail.text()
    assert sw.outbox(paris(2025, 6, 15, 9, 35)) == []


def test_a_flap_during_quiet_hours_arrives_as_one_line_per_service(
    sw: Statuswatch, smtp_sink: SmtpSink
) -> None:
    sw.subscribe(
        "me", [sw.hook("/hook"), smtp_sink.mailto()], timezone="Europe/Paris", digest=False
    )
    sw.settings["quiet_hours"] = "22:00-07:00"
    sw.check(paris(2025, 6, 14, 21, 0), AVAILABLE)
    times = [(1, 0), (1, 5), (1, 20), (1, 30)]
    for number, (hour, minute) in enumerate(times):
        at = paris(2025, 6, 15, hour, minute)
        down = number % 2 == 0
        events = [event(kind="Outage", start=at, message_id=str(number))] if down else []
        sw.check(at, feed(iCloud_Mail=events))
    sw.check(paris(2025, 6, 15, 7, 1))
    sw.check(paris(2025, 6, 15, 7, 30))
    (title,) = sw.titles("/hook")  # four changes, one message (even with digest = false)
    assert "iCloud Mail was having an outage 01:00–01:05 and 01:20–01:30; " in title
    assert "available again since 01:30" in title
    (mail,) = smtp_sink.mails
    assert "held 4 messages" in mail.text()


def test_quiet_hours_end_at_seven_local_time_on_the_night_the_clocks_go_forward(
    sw: Statuswatch,
) -> None:
    # Europe/Paris, Sunday 28 March 2027: 02:00 CET becomes 03:00 CEST.
    sw.subscribe("paris", [sw.hook("/hook")], timezone="Europe/Paris")
    sw.settings["quiet_hours"] = "22:00-07:00"  # the top-level default
    sw.check(datetime(2027, 3, 27, 20, 0, tzinfo=UTC), AVAILABLE)
    start = datetime(2027, 3, 27, 22, 0, tzinfo=UTC)  # 23:00 CET
    sw.check(start, feed(iCloud_Backup=[event(start=start)]))
    sw.check(datetime(2027, 3, 28, 4, 59, tzinfo=UTC))  # 06:59 CEST
    assert sw.sink.accepted() == []
    sw.check(datetime(2027, 3, 28, 5, 0, tzinfo=UTC))  # 07:00 CEST, not 07:00 CET
    (title,) = sw.titles("/hook")
    assert "iCloud Backup" in title and "maintenance" in title


def test_an_urgent_outage_passes_quiet_hours_and_the_rest_waits(sw: Statuswatch) -> None:
    sw.subscribe(
        "on-call",
        [sw.hook("/hook")],
        timezone="Europe/Paris",
        quiet_hours="22:00-07:00",
        urgent=["outage"],
    )
    sw.check(paris(2025, 6, 14, 21, 0), AVAILABLE)
    night = paris(2025, 6, 15, 1, 0)
    sw.check(
        night,
        feed(
            iCloud_Mail=[event(kind="Outage", start=night, message_id="7")],
            iCloud_Backup=[event(start=night)],
        ),
    )
    (title,) = sw.titles("/hook")
    assert "iCloud Mail" in title and "outage" in title
    sw.check(paris(2025, 6, 15, 7, 0))
    assert len(sw.titles("/hook")) == 2
    assert "iCloud Backup" in sw.titles("/hook")[1]


# -- silences ---------------------------------------------------------------------------


def _wait_for(condition: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    return err


def _rows(sw: Statuswatch, status: str) -> list[Any]:
    if not (sw.state_dir / "statuswatch.db").exists():
        return []
    store = SqliteStore.open(sw.state_dir)
    try:
        return store.outbox_rows((status,))
    finally:
        store.close()


def test_a_silence_added_while_the_daemon_runs_counts_at_once(sw: Statuswatch) -> None:
    now = datetime(2025, 6, 14, 21, 0, tzinfo=UTC)
    sw.settings["interval"] = "1s"
    sw.subscribe("me", [sw.hook("/hook")])
    sw.sink.feed = AVAILABLE
    daemon = sw.start("run", now=now)
    try:
        _wait_for(lambda: sw.sink.feed_requests >= 1, "the first poll")
        added = sw.run(
            "silence", "add", "--service", "icloud backup", "--for", "2h", "--comment", "known",
            now=now,
        )  # fmt: skip
        assert added.code == 0, added.output
        silence_id = int(added.stdout.strip())
        sw.sink.feed = feed(iCloud_Backup=[event(start=now)])
        _wait_for(lambda: _rows(sw, "silenced"), "the silenced row")
        sw.sink.feed = feed(
            iCloud_Backup=[event(start=now)], iCloud_Mail=[event(start=now, message_id="8")]
        )
        sw.sink.wait_for_posts(1)
    finally:
        _stop(daemon)
    (title,) = sw.titles("/hook")
    assert "iCloud Mail" in title  # the daemon delivers; only the silenced row was held back
    (row,) = [row for row in sw.outbox(now) if row["status"] == "silenced"]
    assert (row["service"], row["silence"]) == (BACKUP, silence_id)
    status = sw.run("status", now=now)
    assert f"silences active: {silence_id} (iCloud Backup)" in status.stdout
    listed = sw.run("silence", "list", "--json", now=now)
    assert json.loads(listed.stdout)[0]["silenced"] == 1
    history = sw.run("history", "--since", "all", now=now)
    (line,) = [line for line in history.stdout.splitlines() if "iCloud Backup" in line]
    assert line.endswith("(silenced for me)")  # recorded, and marked as never sent


def test_a_silence_for_nothing_watched_is_refused_with_a_suggestion(sw: Statuswatch) -> None:
    sw.subscribe("me", [sw.hook("/hook")])
    now = datetime(2025, 6, 14, 21, 0, tzinfo=UTC)
    result = sw.run("silence", "add", "--service", "iCloud Backp", "--for", "1h", now=now)
    assert result.code == 2
    assert "did you mean 'iCloud Backup'?" in result.stderr
    expired = sw.run("silence", "expire", "41", now=now)
    assert expired.code == 2 and "no active silence 41" in expired.stderr


# -- reminders --------------------------------------------------------------------------


def test_a_reminder_after_a_daemon_restart_is_not_sent_twice(sw: Statuswatch) -> None:
    since = datetime(2025, 6, 14, 20, 0, tzinfo=UTC)
    sw.settings.update(interval="1s", repeat_every="1h")
    sw.subscribe("me", [sw.hook("/hook")], kinds=["reminder"])
    sw.check(since, feed(iCloud_Backup=[event(start=since)]))  # `initial`, not wanted
    later = since + timedelta(hours=1, minutes=30)
    for _ in range(2):  # the same moment, twice: a restart
        daemon = sw.start("run", now=later)
        try:
            _wait_for(lambda: len(sw.sink.accepted("/hook")) >= 1, "the reminder")
            polls = sw.sink.feed_requests + 2
            _wait_for(lambda: sw.sink.feed_requests >= polls, "two more polls")  # noqa: B023
        finally:
            _stop(daemon)
    (title,) = sw.titles("/hook")
    assert title.startswith("⏳ iCloud Backup: still under maintenance") and "1 h 30 min" in title
    sw.check(since + timedelta(hours=2, minutes=5))
    assert len(sw.titles("/hook")) == 2


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_concurrent_checks_send_each_policy_message_once(
    sw: Statuswatch, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":  # two nodes sharing one store (DESIGN §5)
        sw.settings["database"] = request.getfixturevalue("pg_database")
    start = datetime(2025, 6, 15, 18, 0, tzinfo=UTC)
    sw.settings.update(repeat_every="6h", remind_before=["24h", "1h"])
    sw.subscribe("a", [sw.hook("/a"), sw.hook("/a2")], kinds=["starting", "reminder"])
    sw.subscribe("b", [sw.hook("/b")], kinds=["starting", "reminder"])
    planned = event("scheduled", start=start, message_id="42")
    outage_since = start - timedelta(hours=30)
    sw.check(
        outage_since,
        feed(
            iCloud_Backup=[planned],
            iCloud_Mail=[event(kind="Outage", start=outage_since, message_id="9")],
        ),
    )
    assert sw.sink.accepted() == []  # `scheduled` and `initial`: not wanted
    moment = start - timedelta(minutes=59)
    sw.write_config()
    runs = [
        subprocess.Popen(
            sw.argv("check"),
            env=sw.env(moment),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    codes = []
    for process in runs:
        _, err = process.communicate(timeout=60)
        # The second may find the cycle lock still taken after its wait (75: try again
        # later; on a loaded machine, or at once on PostgreSQL): never a double send.
        assert process.returncode in (0, 75), err
        codes.append(process.returncode)
    assert 0 in codes
    for path in ("/a", "/a2", "/b"):
        # Both due together: one digest per target (digest = true), each message once.
        (body,) = sw.bodies(path)
        assert body.count("⏰ iCloud Backup: maintenance starts in 59 min") == 2, body
        assert body.count("⏳ iCloud Mail: still having an outage") == 2, body
    sw.check(moment + timedelta(minutes=5))
    assert [len(sw.bodies(path)) for path in ("/a", "/a2", "/b")] == [1, 1, 1]


def test_starting_reminders_follow_apples_edits_and_stop_when_cancelled(
    sw: Statuswatch,
) -> None:
    start = datetime(2025, 6, 15, 18, 0, tzinfo=UTC)
    sw.subscribe("me", [sw.hook("/hook")], kinds=["starting"], timezone="Europe/Paris")
    sw.settings["remind_before"] = ["24h", "1h"]
    sw.check(start - timedelta(hours=30), feed(iCloud_Backup=[event("scheduled", start=start)]))
    sw.check(start - timedelta(hours=24))
    sw.check(start - timedelta(hours=23))
    (first,) = sw.titles("/hook")
    assert first == "⏰ iCloud Backup: maintenance starts in 24 h, Sun 15 Jun 20:00–23:00 CEST"
    moved = start + timedelta(hours=2)
    edited = feed(iCloud_Backup=[event("scheduled", start=moved)])
    sw.check(start - timedelta(hours=1), edited)  # 3 h before the new start: the new time
    sw.check(moved - timedelta(hours=1))
    assert len(sw.titles("/hook")) == 3
    assert sw.titles("/hook")[1].startswith("⏰ iCloud Backup: maintenance starts in 3 h")
    assert "22:00" in sw.titles("/hook")[1]
    assert sw.titles("/hook")[2].startswith("⏰ iCloud Backup: maintenance starts in 1 h")
    # A second event, cancelled before its reminder time: nothing.
    other = moved + timedelta(days=1)
    sw.check(moved, feed(iCloud_Backup=[event("scheduled", start=other, message_id="2")]))
    cancelled = feed(iCloud_Backup=[event("cancelled", start=other, message_id="2")])
    sw.check(other - timedelta(hours=1), cancelled)
    assert len(sw.titles("/hook")) == 4  # only the 24 h one of the second event


# -- heartbeat ----------------------------------------------------------------------------


class PingSink:
    """Records the paths of GET requests; `down` closes the port, `stall` never answers."""

    def __init__(self, stall: float = 0.0) -> None:
        self.paths: list[str] = []
        self.stall = stall
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                sink.paths.append(self.path)
                time.sleep(sink.stall)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = PeerHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


TOKEN = "5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278"


def test_the_heartbeat_is_pinged_after_good_cycles_and_fail_url_after_bad_ones(
    sw: Statuswatch,
) -> None:
    pings = PingSink()
    try:
        sw.sections["heartbeat"] = {
            "url": pings.url(f"/ping/{TOKEN}"),
            "fail_url": pings.url(f"/ping/{TOKEN}/fail"),
        }
        now = datetime(2025, 6, 14, 21, 0, tzinfo=UTC)
        sw.check(now, AVAILABLE)
        sw.check(now + timedelta(minutes=1), b"<html>oops</html>", expect=69)
        assert pings.paths == [f"/ping/{TOKEN}", f"/ping/{TOKEN}/fail"]
        shown = sw.run("config", "show", now=now)
        assert TOKEN not in shown.output and "[heartbeat]" in shown.output
    finally:
        pings.close()


def test_a_heartbeat_sink_that_is_down_or_stalls_is_a_warning_not_a_failure(
    sw: Statuswatch,
) -> None:
    now = datetime(2025, 6, 14, 21, 0, tzinfo=UTC)
    sw.subscribe("me", [sw.hook("/hook")])
    sw.sections["heartbeat"] = {"url": f"http://127.0.0.1:{free_port()}/ping/{TOKEN}"}
    down = sw.check(now, AVAILABLE)
    assert "heartbeat" in down.stderr and "failed" in down.stderr
    assert TOKEN not in down.output
    stalling = PingSink(stall=30)
    try:
        sw.sections["heartbeat"] = {"url": stalling.url(f"/ping/{TOKEN}"), "timeout": "1s"}
        started = time.monotonic()
        result = sw.check(now + timedelta(minutes=1), feed(iCloud_Backup=[event(start=now)]))
        assert time.monotonic() - started < 15  # bounded by the 1 s timeout, not 30 s
        assert "no answer within 1s" in result.stderr and TOKEN not in result.output
        assert len(sw.sink.accepted("/hook")) == 1  # the cycle delivered as usual
    finally:
        stalling.close()


# -- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "named"),
    [
        ('quiet_hours = "25:00-07:00"', "quiet_hours"),
        ('urgent = ["outage", "meltdown"]', "urgent[1]"),
        ('remind_before = ["soon"]', "remind_before[0]"),
        ('repeat_every = "often"', "repeat_every"),
        (
            '[[subscribers]]\nname = "x"\nurls = ["json://127.0.0.1:9/h"]\nquiet_hours = "22:00"',
            "subscribers[0].quiet_hours",
        ),
        (f'[heartbeat]\nurl = "ftp://example.com/{TOKEN}"', "heartbeat.url"),
    ],
)
def test_every_new_key_is_checked_at_load(tmp_path: Path, lines: str, named: str) -> None:
    config = tmp_path / "statuswatch.toml"
    config.write_text(lines + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSWATCH_")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "statuswatch", "--config", str(config), "config", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 78, done.stderr
    assert f"{named}:" in done.stderr and "Traceback" not in done.stderr
    assert TOKEN not in done.stderr


def test_the_daemon_pings_the_heartbeat_after_each_poll_and_never_logs_its_token(
    sw: Statuswatch,
) -> None:
    pings = PingSink()
    now = datetime(2025, 6, 14, 21, 0, tzinfo=UTC)
    sw.settings.update(interval="1s", log_level="debug")
    sw.sections["heartbeat"] = {"url": pings.url(f"/ping/{TOKEN}")}
    sw.sink.feed = AVAILABLE
    try:
        daemon = sw.start("run", now=now)
        try:
            _wait_for(lambda: len(pings.paths) >= 2, "two heartbeats")
        finally:
            err = _stop(daemon)
    finally:
        pings.close()
    assert set(pings.paths) == {f"/ping/{TOKEN}"}
    assert "127.0.0.1" in err and TOKEN not in err  # debug logging shows requests, masked
