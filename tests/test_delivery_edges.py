"""Issue 9: the delivery contract at its edges (DESIGN §4), against real local peers.

Every test drives `statuswatch` in a subprocess (tests/test_delivery.Statuswatch) against
the local webhook sink, a port that refuses connections, or an aiosmtpd server that
checks a password, and counts what each target received.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from statuswatch import cli_outbox
from statuswatch.cli_outbox import finished_elsewhere
from statuswatch.config import load_settings
from statuswatch.notify.claims import claimer_id, is_orphaned
from statuswatch.notify.deliver import Deliverer
from statuswatch.notify.recipients import Recipients
from statuswatch.store import SqliteStore
from tests.peers import free_port
from tests.test_delivery import (
    IN_MAINTENANCE,
    T1,
    Statuswatch,
    feed,
    http_sink,
    maintenance,
    messages,
    sw,
    titles,
)

__all__ = ["http_sink", "sw"]  # the fixtures, shared with test_delivery.py

SECRET_TOKEN = "SECRETTOKEN42"
SECRET_PASSWORD = "HUNTER2PASSWORD"


def closed_port() -> int:
    """A port nothing listens on: apprise's POST is refused (a channel that stays down)."""
    return free_port()


def broken_hook(token: str = SECRET_TOKEN) -> str:
    return f"json://127.0.0.1:{closed_port()}/hooks/{token}"


def write_apprise_yaml(path: Path, sw: Statuswatch, broken: str) -> Path:
    """Two URLs tagged `family` (one working, one refused) and one tagged `ops` only."""
    path.write_text(
        "urls:\n"
        f"  - {sw.hook('/cfg-ok')}:\n"
        "      tag: family\n"
        f"  - {broken}:\n"
        "      tag: family, pager\n"
        f"  - {sw.hook('/cfg-ops')}:\n"
        "      tag: ops\n",
        encoding="utf-8",
    )
    return path


def no_traceback(result: object) -> None:
    assert "Traceback" not in str(result)


# --- item 1: each URL of an apprise config file is its own target -------------------------


def test_apprise_config_urls_are_targets_of_their_own(sw: Statuswatch, tmp_path: Path) -> None:
    sw.settings["give_up_after"] = "1h"
    config = write_apprise_yaml(tmp_path / "apprise.yml", sw, broken_hook())
    sw.subscribe("family", [], apprise_config=str(config), tags=["family"])
    first = sw.check(T1, body=IN_MAINTENANCE, expect=75)
    no_traceback(first)
    rows = sw.rows()
    assert len(rows) == 1  # the working URL's row was sent; the refused one waits
    assert rows[0].target_label.startswith("json://127.0.0.1:")
    assert SECRET_TOKEN not in rows[0].target_label and "/****" in rows[0].target_label
    # Every retry goes to the refused URL alone: the working one got its message once.
    for minutes in (1, 3, 7, 15, 40):
        sw.check(T1 + timedelta(minutes=minutes), expect=(75, 79))
    assert len(titles(sw.sink, "/cfg-ok")) == 1
    assert titles(sw.sink, "/cfg-ops") == []  # tagged ops only: not this subscriber's
    dead = sw.check(T1 + timedelta(hours=2), expect=79)
    assert "family (1)" in dead.stderr and SECRET_TOKEN not in dead.output
    assert len(titles(sw.sink, "/cfg-ok")) == 1

    test = sw.run("notify-test", now=T1)
    assert test.code == 79, test.output  # one of its URLs failed
    lines = test.stdout.splitlines()
    assert len(lines) == 2 and sum(line.startswith("sent    family") for line in lines) == 1
    assert sum(line.startswith("FAILED  family") for line in lines) == 1
    assert SECRET_TOKEN not in test.output
    no_traceback(test)


# --- item 3: a poison value fails alone ------------------------------------------------------


def test_a_year_9999_end_in_europe_paris_is_delivered_once_to_everyone(sw: Statuswatch) -> None:
    document = json.loads(feed(iCloud_Backup=[maintenance(end=T1 + timedelta(days=1))]))
    for service in document["services"]:
        for event in service["events"]:
            event["epochEndDate"] = 253402300799999  # 9999-12-31T23:59:59.999Z
    sw.subscribe("paris", [sw.hook("/paris")], timezone="Europe/Paris")
    sw.subscribe("kiribati", [sw.hook("/kiritimati")], timezone="Pacific/Kiritimati")
    sw.subscribe("utc", [sw.hook("/utc")])
    first = sw.check(T1, body=json.dumps(document).encode())
    no_traceback(first)
    for _ in range(2):
        sw.check(T1 + timedelta(minutes=5))
    for path in ("/paris", "/kiritimati", "/utc"):
        assert len(titles(sw.sink, path)) == 1, path
    assert sw.rows() == []


# --- item 4: given up, told, visible until someone acts ------------------------------------


def test_delivery_failed_is_told_once_per_dead_row_never_to_the_dead_target(
    sw: Statuswatch,
) -> None:
    sw.settings["give_up_after"] = "1h"
    dead_url = broken_hook()
    sw.subscribe("family", [dead_url])
    sw.subscribe(
        "ops",
        [sw.hook("/ops-a"), sw.hook("/ops-b")],
        kinds=["maintenance", "initial", "recovered", "delivery_failed"],
    )
    sw.subscribe("everything", [sw.hook("/everything")])  # default kinds: not opted in
    sw.subscribe(
        "self",
        [dead_url, sw.hook("/self-ok")],
        kinds=["initial", "maintenance", "delivery_failed"],
    )
    sw.check(T1, body=IN_MAINTENANCE, expect=75)
    result = sw.check(T1 + timedelta(hours=2), expect=79)
    no_traceback(result)
    sw.check(T1 + timedelta(hours=2, minutes=5), expect=79)
    sw.check(T1 + timedelta(hours=3), expect=79)
    for path in ("/ops-a", "/ops-b", "/self-ok"):
        told = [m for m in messages(sw.sink, path) if "given up" in m["title"]]
        assert len(told) == 2, (path, told)  # family's and self's dead rows, once each
        assert all(SECRET_TOKEN not in m["title"] + m["message"] for m in told)
        assert any("family" in m["title"] for m in told)
    assert not any("given up" in t for t in titles(sw.sink, "/everything"))
    # `self` shares the dead URL: nothing was queued for it there (it would die too).
    assert {row.status for row in sw.rows()} == {"dead"}
    assert len(sw.rows()) == 2

    status = sw.run("check", "--nagios", now=T1 + timedelta(hours=3))
    assert status.code == 2 and "CRITICAL" in status.stdout
    assert "family (1)" in status.stdout and "self (1)" in status.stdout


# --- item 5: claims of processes that are gone -------------------------------------------


def start_ticks(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def test_claims_name_host_pid_and_start_time() -> None:
    me = claimer_id()
    host, pid, started = me.rsplit(":", 2)
    assert int(pid) > 0 and started.isdigit()
    assert not is_orphaned(me)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        theirs = f"{host}:{sleeper.pid}:{start_ticks(sleeper.pid)}"
        assert not is_orphaned(theirs)
        assert is_orphaned(f"{host}:{sleeper.pid}:1")  # same PID, another process
    finally:
        sleeper.kill()
        sleeper.wait()
    assert is_orphaned(theirs)
    assert not is_orphaned(f"another-host:{sleeper.pid}:1")


@contextlib.contextmanager
def claimed_by_another_process(sw: Statuswatch) -> Iterator[int]:
    """One outbox row, claimed (`sending`) by a live process of this host that is not us,
    as a running daemon holds a row while its channel sends it."""
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    sw.sink.set_post_status(500)
    sw.check(T1, body=IN_MAINTENANCE, expect=75)
    [row] = sw.rows()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = f"{claimer_id().rsplit(':', 2)[0]}:{sleeper.pid}:{start_ticks(sleeper.pid)}"
        store = SqliteStore.open(sw.state_dir)
        try:
            store.retry(row.id, T1)
            assert store.claim(row.id, T1, live, stale_after=600)
        finally:
            store.close()
        sw.sink.set_post_status(200)
        yield row.id
    finally:
        sleeper.kill()
        sleeper.wait()


def when_retry_waits(
    monkeypatch: pytest.MonkeyPatch, sw: Statuswatch, action: Callable[[SqliteStore], None]
) -> None:
    """The moment `outbox retry` starts waiting for the row, the other process does
    `action` with a store of its own: sends it, or fails it."""
    say = cli_outbox._say_waiting

    def notice(ids: list[int], wait: float) -> None:
        say(ids, wait)
        store = SqliteStore.open(sw.state_dir)
        try:
            action(store)
        finally:
            store.close()

    monkeypatch.setattr(cli_outbox, "_say_waiting", notice)


def test_outbox_retry_waits_for_a_live_claim_then_says_busy(sw: Statuswatch) -> None:
    sw.settings["timeout"] = "1s"  # the wait: 3 x timeout + 1 s
    with claimed_by_another_process(sw) as row_id:
        busy = sw.run("outbox", "retry", str(row_id), now=T1)
    assert busy.code == 75, busy.output
    assert f"{row_id}  busy (another statuswatch process is still delivering it after 4 s)" in (
        busy.stdout
    )
    assert f"waiting up to 4 s for another statuswatch process that is delivering row {row_id}" in (
        busy.stderr
    )
    assert sw.sink.accepted() == []
    # Its claimer is gone: `outbox retry` takes the row back and delivers it itself, now.
    now = sw.run("outbox", "retry", str(row_id), now=T1 + timedelta(seconds=1))
    assert now.code == 0 and f"{row_id}  sent  ops-hook" in now.stdout, now.output
    assert len(titles(sw.sink, "/hook")) == 1
    again = sw.run("outbox", "retry", str(row_id), now=T1 + timedelta(seconds=2))
    assert again.code == 2 and "already delivered" in again.stderr


def test_outbox_retry_reports_a_row_the_other_process_sent(
    sw: Statuswatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race of a running daemon: it claimed the row first and sends it meanwhile.
    with claimed_by_another_process(sw) as row_id:
        when_retry_waits(monkeypatch, sw, lambda daemon: daemon.mark_sent([row_id], T1))
        retry = sw.run("outbox", "retry", str(row_id), now=T1)
    assert retry.code == 0, retry.output
    assert f"{row_id}  sent (by another statuswatch process)  ops-hook" in retry.stdout
    assert sw.sink.accepted() == []  # the other process sent it; the command did not


def test_outbox_retry_reports_a_row_the_other_process_failed(
    sw: Statuswatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = "HTTP 500 from 127.0.0.1"
    with claimed_by_another_process(sw) as row_id:
        when_retry_waits(
            monkeypatch,
            sw,
            lambda daemon: daemon.mark_failed([row_id], error, T1 + timedelta(hours=1), T1),
        )
        retry = sw.run("outbox", "retry", str(row_id), now=T1)
    assert retry.code == 79, retry.output
    assert (
        f"{row_id}  FAILED in another statuswatch process (will be retried)  ops-hook"
        in retry.stdout
    )
    assert retry.stdout.rstrip().endswith(error)


class _ScriptedOutbox:
    """outbox_row() answers from a script, one answer per call, per row."""

    def __init__(self, answers: dict[int, list[str | None]]) -> None:
        self.answers = answers

    def outbox_row(self, row_id: int) -> Any:
        status = self.answers[row_id].pop(0)
        return None if status is None else SimpleNamespace(status=status)


def test_finished_elsewhere_waits_only_for_rows_still_sending_and_not_past_the_wait() -> None:
    store = _ScriptedOutbox({1: ["sending", "sending", "sent"], 2: ["sent"], 3: [None]})
    now = [0.0]
    notices: list[tuple[list[int], float]] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    rows = finished_elsewhere(
        store,  # type: ignore[arg-type]
        [1, 2, 3],
        5.0,
        notice=lambda ids, wait: notices.append((ids, wait)),
        sleep=sleep,
        clock=lambda: now[0],
    )
    assert {i: None if r is None else r.status for i, r in rows.items()} == {
        1: "sent",
        2: "sent",
        3: None,
    }
    assert notices == [([1], 5.0)]  # said once, and only of the row still held
    assert store.answers == {1: [], 2: [], 3: []}  # rows 2 and 3 were asked once each
    stuck = _ScriptedOutbox({7: ["sending"] * 100})
    now[0] = 0.0
    rows = finished_elsewhere(stuck, [7], 1.0, sleep=sleep, clock=lambda: now[0])  # type: ignore[arg-type]
    assert rows[7].status == "sending" and 1.0 <= now[0] < 1.5


# --- item 6: the real reason, in one line ------------------------------------------------------


@dataclass
class _AuthRecorder:
    mails: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.mails.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def auth_smtp() -> Iterator[tuple[int, _AuthRecorder]]:
    recorder = _AuthRecorder()
    port = free_port()

    def authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        good = auth_data.login == b"alice" and auth_data.password == b"RIGHTPASS"
        return AuthResult(success=good, handled=False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AUTH without TLS: fine on loopback in a test
        controller = Controller(
            recorder,
            hostname="127.0.0.1",
            port=port,
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=False,
        )
        controller.start()
    try:
        yield port, recorder
    finally:
        controller.stop()


def test_a_wrong_smtp_password_shows_the_servers_535_in_one_line(
    sw: Statuswatch, auth_smtp: tuple[int, _AuthRecorder]
) -> None:
    port, recorder = auth_smtp
    query = "?from=statuswatch@example.com&to=me@example.com&mode=insecure"
    wrong = f"mailto://alice:{SECRET_PASSWORD}@127.0.0.1:{port}{query}"
    sw.subscribe("mail", [wrong])
    result = sw.check(T1, body=IN_MAINTENANCE, expect=75)
    no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr  # one failure, one line
    assert "535" in lines[0] and "mail (1)" in lines[0]
    assert SECRET_PASSWORD not in result.output
    [row] = sw.outbox(T1)
    assert "535" in row["last_error"] and SECRET_PASSWORD not in row["last_error"]
    assert recorder.mails == []
    right = f"mailto://alice:RIGHTPASS@127.0.0.1:{port}{query}"
    sw.subscribers[0]["urls"] = [right]
    test = sw.run("notify-test", now=T1)
    assert test.code == 0 and len(recorder.mails) == 1, test.output


# --- item 7: no secret anywhere ---------------------------------------------------------------


def test_no_secret_from_any_origin_reaches_output_logs_or_state(
    sw: Statuswatch, tmp_path: Path
) -> None:
    secrets = [
        SECRET_TOKEN,
        "FILETOKEN77",
        "CFGTOKEN99",
        "SECRETUSER",
        "1234567:AAHsecretTG",
        "PWD55SECRET",
    ]
    urls_file = tmp_path / "urls.txt"
    urls_file.write_text(f"# one per line\n{broken_hook('FILETOKEN77')}\n", encoding="utf-8")
    config = tmp_path / "apprise.yml"
    config.write_text(
        "urls:\n"
        f"  - json://u:PWD55SECRET@127.0.0.1:{closed_port()}/x/CFGTOKEN99:\n"
        "      tag: all\n"
        f"  - {sw.hook('/cfg')}:\n"
        "      tag: all\n",
        encoding="utf-8",
    )
    sw.settings["give_up_after"] = "1h"
    sw.subscribe("inline", [broken_hook(SECRET_TOKEN), sw.hook("/inline")])
    sw.subscribe("from-file", [], urls_file=str(urls_file))
    sw.subscribe("from-config", [], apprise_config=str(config), tags=["all"])
    sw.subscribe("ops", [sw.hook("/ops")], kinds=["delivery_failed"])
    sw.sink.feed = IN_MAINTENANCE
    outputs = []
    for args, when in [
        (("check", "--debug"), T1),
        (("check",), T1 + timedelta(minutes=3)),
        (("check", "--json"), T1 + timedelta(hours=2)),
        (("check", "--nagios"), T1 + timedelta(hours=2)),
        (("outbox",), T1 + timedelta(hours=2)),
        (("outbox", "--json"), T1 + timedelta(hours=2)),
        (("outbox", "retry", "--all"), T1 + timedelta(hours=2)),
        (("notify-test", "--debug"), T1),
        (("history",), T1 + timedelta(hours=2)),
        (("status",), T1 + timedelta(hours=2)),
    ]:
        outputs.append(sw.run(*args, now=when).output)
    # Invalid URLs: apprise cannot parse them; the sentence must not echo them either.
    sw.subscribers = [
        {"name": "bad", "urls": ["pover://SECRETUSER@", "tgram://1234567:AAHsecretTG/"]}
    ]
    outputs.append(sw.run("notify-test", now=T1).output)
    outputs.append(sw.run("check", "--debug", now=T1 + timedelta(hours=3)).output)
    text = "\n".join(outputs)
    state = sw.database_bytes()
    for secret in secrets:
        assert secret not in text, secret
        assert secret.encode() not in state, secret
    for line in (line for out in outputs for line in out.splitlines()):
        assert "Traceback" not in line
    # …and the work was done: the working URLs got messages, ops heard of the dead rows.
    assert titles(sw.sink, "/inline") and titles(sw.sink, "/cfg")
    assert any("given up" in t for t in titles(sw.sink, "/ops")), (titles(sw.sink, "/ops"), outputs)


def test_a_urls_file_url_apprise_cannot_parse_is_named_masked(
    sw: Statuswatch, tmp_path: Path
) -> None:
    urls_file = tmp_path / "urls.txt"
    urls_file.write_text("pover://SECRETUSER@\n", encoding="utf-8")
    sw.subscribe("bad", [], urls_file=str(urls_file))
    result = sw.run("notify-test", now=T1)
    assert result.code == 79
    assert "apprise cannot use the URL pover://" in result.output
    assert "SECRETUSER" not in result.output
    assert re.search(r"pover://\w\w\*\*\*\*", result.output)


# --- items 2 and 3 in-process: one row's failure is its own ------------------------------


def _deliverer(sw: Statuswatch, store: SqliteStore, now: datetime) -> Deliverer:
    settings = load_settings(sw.config)
    return Deliverer(settings, store, lambda: now, Recipients(settings), summarised=True)


def test_a_row_that_cannot_be_rendered_fails_alone_through_back_off_to_dead(
    sw: Statuswatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    sw.settings["give_up_after"] = "1h"
    sw.subscribe("ok", [sw.hook("/ok")])
    sw.subscribe("poison", [sw.hook("/poison")])
    sw.sink.set_post_status(500)
    sw.check(T1, body=IN_MAINTENANCE, expect=75)
    sw.sink.set_post_status(200)
    real = Deliverer._render_one

    def render_one(self: Deliverer, subscriber: Any, row: Any) -> Any:
        if row.subscriber == "poison":
            raise OverflowError("date value out of range")
        return real(self, subscriber, row)

    monkeypatch.setattr(Deliverer, "_render_one", render_one)
    store = SqliteStore.open(sw.state_dir)
    try:
        report = asyncio.run(_deliverer(sw, store, T1 + timedelta(minutes=2)).deliver_due())
        assert report.sent == 1 and len(titles(sw.sink, "/ok")) == 1
        [row] = store.outbox_rows()
        assert (row.subscriber, row.status, row.attempts) == ("poison", "pending", 2)
        assert row.last_error == (
            "the message could not be written: OverflowError: date value out of range"
        )
        report = asyncio.run(_deliverer(sw, store, T1 + timedelta(hours=2)).deliver_due())
        [row] = store.outbox_rows()
        assert row.status == "dead" and "OverflowError" in (row.last_error or "")
        assert report.dead == 1 and len(titles(sw.sink, "/ok")) == 1
    finally:
        store.close()


def test_a_send_the_channel_accepted_is_recorded_while_the_database_is_locked(
    sw: Statuswatch,
) -> None:
    sw.subscribe("one", [sw.hook("/one")])
    sw.subscribe("two", [sw.hook("/two")])
    sw.sink.set_post_status(500)
    sw.check(T1, body=IN_MAINTENANCE, expect=75)
    sw.sink.set_post_status(200)
    sw.sink.set_post_delay(1.0)
    holder_ready = threading.Event()

    def hold_the_database() -> None:
        sw.sink.wait_for_posts(3, timeout=20)  # both sends are at the channel now
        blocker = sqlite3.connect(sw.database, timeout=1.0, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        holder_ready.set()
        time.sleep(7.0)  # longer than the store's 5 s busy timeout
        blocker.execute("COMMIT")
        blocker.close()

    holder = threading.Thread(target=hold_the_database)
    holder.start()
    store = SqliteStore.open(sw.state_dir)
    try:
        report = asyncio.run(_deliverer(sw, store, T1 + timedelta(minutes=2)).deliver_due())
        holder.join()
        assert holder_ready.is_set()
        assert report.sent == 2 and store.outbox_rows() == []
        again = asyncio.run(_deliverer(sw, store, T1 + timedelta(minutes=30)).deliver_due())
        assert again.sent == 0
    finally:
        store.close()
    assert len(titles(sw.sink, "/one")) == 1 and len(titles(sw.sink, "/two")) == 1
