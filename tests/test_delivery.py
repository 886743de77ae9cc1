"""Delivery (DESIGN §4, issue 4) against real peers on 127.0.0.1.

`statuswatch check` runs as a timer would start it (tests/harness.py: in this process, or as a
real subprocess where the process itself is under test), with its clock pinned
by STATUSWATCH_NOW; it polls a feed served by tests/peers.FeedServer and delivers through
apprise to that sink's webhook paths or to an aiosmtpd server (tests/peers.SmtpSink).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from statuswatch.model import Event, Kind, State, Transition, to_epoch_ms
from statuswatch.notify.deliver import next_attempt, retry_delay, send
from statuswatch.notify.render import render
from statuswatch.secrets import RedactingFilter, Redactor
from statuswatch.store import SqliteStore
from tests.conftest import HISTORY
from tests.harness import Result, Statuswatch
from tests.peers import FeedServer, SmtpSink

# The capture taken at this moment is the base of every feed below.
T1 = datetime(2025, 6, 14, 21, 20, 50, tzinfo=UTC)
BASE_FEED = json.loads((HISTORY / "consumer" / "2025-06-14T21-20-50Z.json").read_text())
BACKUP = "iCloud Backup"
MAIL = "iCloud Mail"
MAINTENANCE_TEXT = "iCloud Backup is unavailable due to scheduled maintenance."
CHECKLIST = "Settings → [your name] → iCloud → iCloud Backup → Back Up Now"


def maintenance(
    status: str = "ongoing",
    *,
    start: datetime = T1 - timedelta(minutes=5),
    end: datetime = T1 + timedelta(hours=3),
    message: str = MAINTENANCE_TEXT,
    message_id: str = "900001",
) -> dict[str, Any]:
    """An Apple-shaped maintenance event (the captures have none for iCloud Backup)."""
    return {
        "messageId": message_id,
        "statusType": "Maintenance",
        "eventStatus": status,
        "epochStartDate": to_epoch_ms(start),
        "epochEndDate": to_epoch_ms(end),
        "message": message,
        "usersAffected": "Some users are affected",
        "affectedServices": None,
        "startDate": start.strftime("%m/%d/%Y %H:%M UTC"),
        "endDate": end.strftime("%m/%d/%Y %H:%M UTC"),
        "datePosted": start.strftime("%m/%d/%Y %H:%M UTC"),
    }


def feed(**events: list[dict[str, Any]]) -> bytes:
    """The base capture with the events of some services replaced; keys are service names
    with spaces as underscores (iCloud_Backup=[...])."""
    document = copy.deepcopy(BASE_FEED)
    wanted = {name.replace("_", " "): value for name, value in events.items()}
    for service in document["services"]:
        if service["serviceName"] in wanted:
            service["events"] = wanted.pop(service["serviceName"])
    assert not wanted, f"not in the capture: {sorted(wanted)}"
    return json.dumps(document).encode()


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
    return Statuswatch(tmp_path, http_sink)


def messages(sink: FeedServer, path: str) -> list[dict[str, Any]]:
    """The JSON bodies apprise's json:// plugin posted to `path` and the sink accepted."""
    return [json.loads(post.body) for post in sink.accepted(path)]


def titles(sink: FeedServer, path: str) -> list[str]:
    return [message["title"] for message in messages(sink, path)]


RESOLVED_TEXT = "iCloud Backup was unavailable due to scheduled maintenance."
T_RECOVERED = T1 + timedelta(hours=2, minutes=14)
IN_MAINTENANCE = feed(iCloud_Backup=[maintenance()])
RECOVERED = feed(iCloud_Backup=[maintenance("resolved", message=RESOLVED_TEXT)])


# --- email, end to end ----------------------------------------------------------------


def test_email_recovered_arrives_once_with_subject_and_retry_checklist(
    sw: Statuswatch,
    smtp_sink: SmtpSink,
) -> None:
    sw.subscribe("family-email", [smtp_sink.mailto()], kinds=["recovered"])
    sw.check(T1, body=IN_MAINTENANCE)  # `initial`: not wanted by this subscriber
    assert smtp_sink.mails == []
    sw.check(T_RECOVERED, body=RECOVERED)
    sw.check(T_RECOVERED + timedelta(minutes=5))  # nothing new: nothing sent again

    assert len(smtp_sink.mails) == 1
    mail = smtp_sink.mails[0]
    assert mail.mail_from == "statuswatch@example.com"
    assert mail.rcpt_tos == ["me@example.com"]
    assert mail.subject == "✅ iCloud Backup is available again"
    # On the wire the subject is MIME-encoded (RFC 2047), and decodes to the same text.
    assert mail.raw_subject.lower().startswith("subject: =?utf-8?")
    body = mail.text()
    assert "iCloud Backup is available again as of Sat 14 Jun 23:34 UTC" in body
    # Counted from Apple's start of the maintenance, not from when statuswatch first saw it.
    assert "after 2 h 19 min of maintenance" in body
    assert f'Apple says: "{RESOLVED_TEXT}"' in body
    assert "You can retry your iCloud backup now" in body
    for check in ("Wi-Fi connected", "free iCloud storage", "Low Power Mode", "Low Data Mode"):
        assert check in body
    assert "- VPN off\n" in body and "iOS/iPadOS up to date" in body
    assert CHECKLIST in body
    assert "https://www.apple.com/support/systemstatus/" in body
    assert sw.rows() == []


# --- a webhook that fails, then recovers or stays down --------------------------------


def test_webhook_failures_wait_with_backoff_then_deliver_exactly_once(sw: Statuswatch) -> None:
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    sw.sink.fail_next(2)

    first = sw.check(T1, body=IN_MAINTENANCE, expect=75)
    assert (
        "1 notification(s) could not be delivered yet and will be retried: ops-hook (1)"
        in first.stderr
    )
    [row] = sw.outbox(T1)
    assert (row["status"], row["subscriber"], row["kind"], row["service"], row["attempts"]) == (
        "pending",
        "ops-hook",
        "initial",
        BACKUP,
        1,
    )
    assert "500" in row["last_error"]
    assert row["target"] == f"json://127.0.0.1:{sw.sink.port}/****"
    delay = datetime.fromisoformat(row["next_attempt_at"]) - T1
    assert timedelta(seconds=27) <= delay <= timedelta(seconds=33)  # 30 s ± 10 %

    # Past the first back-off: tried again, fails again, and the delay doubles.
    second_try = T1 + timedelta(seconds=40)
    sw.check(second_try, expect=75)
    [row] = sw.rows()
    assert (row.status, row.attempts) == ("pending", 2)
    delay = row.next_attempt_at - second_try
    assert timedelta(seconds=54) <= delay <= timedelta(seconds=66)  # 60 s ± 10 %
    assert len(sw.sink.posts) == 2 and sw.sink.accepted() == []

    # The sink works again and the clock is past the back-off: delivered once.
    third_try = second_try + timedelta(seconds=70)
    sw.check(third_try)
    assert titles(sw.sink, "/hook") == ["🔧 iCloud Backup is under maintenance"]
    assert "The outbox is empty" in sw.run("outbox", now=third_try).stdout
    sw.check(third_try + timedelta(hours=1))
    assert len(sw.sink.accepted()) == 1
    assert sw.rows() == []


def test_check_exits_75_while_a_row_waits_for_its_backoff(sw: Statuswatch) -> None:
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    sw.sink.fail_next(1)
    sw.check(T1, body=IN_MAINTENANCE, expect=75)
    early = sw.run("check", "--json", now=T1 + timedelta(seconds=10))
    assert len(sw.sink.posts) == 1  # not due yet: not tried again
    assert early.code == 75, early.output
    assert json.loads(early.stdout)["deliveries"]["pending"] == 1
    assert "ops-hook (1)" in early.stderr


def test_webhook_down_past_give_up_after_is_dead_logged_then_retry_and_drop(
    sw: Statuswatch,
) -> None:
    sw.settings["give_up_after"] = "1h"
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    sw.subscribe("pager", [sw.hook("/pager")])
    sw.sink.set_post_status(500)
    sw.check(T1, body=IN_MAINTENANCE, expect=75)

    later = T1 + timedelta(hours=2)
    dead_run = sw.run("check", "--json", now=later)
    assert dead_run.code == 79, dead_run.output  # DESIGN §4: given up, visible until acted on
    assert json.loads(dead_run.stdout)["deliveries"] == {"sent": 0, "pending": 0, "dead": 2}
    summary = [line for line in dead_run.stderr.splitlines() if "were given up" in line]
    assert len(summary) == 1 and "ops-hook (1), pager (1)" in summary[0]
    assert "500" in summary[0]  # the channel's reason, in the one line
    assert "Traceback" not in dead_run.output
    rows = {row["subscriber"]: row for row in sw.outbox(later)}
    assert {name: row["status"] for name, row in rows.items()} == {
        "ops-hook": "dead",
        "pager": "dead",
    }
    assert all("500" in row["last_error"] for row in rows.values())
    # Dead rows are not retried by themselves, and `check` keeps saying so (exit 79).
    sw.sink.set_post_status(200)
    sw.check(later + timedelta(hours=1), expect=79)
    assert sw.sink.accepted() == []
    nagios = sw.run("check", "--nagios", now=later + timedelta(hours=1))
    assert nagios.code == 2 and "CRITICAL" in nagios.stdout and "ops-hook (1)" in nagios.stdout

    # `outbox retry` delivers now, itself, and says so per row.
    revive = sw.run("outbox", "retry", str(rows["ops-hook"]["id"]), now=later)
    assert revive.code == 0, revive.output
    assert f"{rows['ops-hook']['id']}  sent  ops-hook" in revive.stdout
    assert titles(sw.sink, "/hook") == ["🔧 iCloud Backup is under maintenance"]
    sw.check(later + timedelta(hours=1), expect=79)  # pager's row is still given up
    drop = sw.run("outbox", "drop", str(rows["pager"]["id"]), now=later)
    assert drop.code == 0, drop.output
    sw.check(later + timedelta(hours=1))
    assert titles(sw.sink, "/hook") == ["🔧 iCloud Backup is under maintenance"]
    assert titles(sw.sink, "/pager") == []
    assert sw.rows() == []
    unknown = sw.run("outbox", "retry", "999", now=later)
    assert unknown.code == 2 and "there is no outbox row 999" in unknown.stderr


# --- at-least-once: a process killed while the channel holds the message ---------------


def test_check_killed_mid_delivery_is_redelivered_at_once_by_the_next_check(
    sw: Statuswatch,
) -> None:
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    sw.sink.set_body(IN_MAINTENANCE)
    sw.sink.set_post_delay(3.0)  # the sink reads the POST, then takes 3 s to answer
    process = sw.start("check", now=T1)
    try:
        sw.sink.wait_for_posts(1, timeout=20)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    sw.sink.set_post_delay(0.0)
    [row] = sw.rows()
    assert row.status == "sending"  # claimed by the dead process, never marked sent

    # The claim names host:pid:start time; that process is gone from this host, so the
    # next check takes the row back at once instead of waiting for the claim to go stale.
    sw.check(T1 + timedelta(seconds=5))
    # The sink had read the first POST in full before the kill (it answered into a dead
    # socket), so it holds the message twice: the documented at-least-once window, between
    # the channel accepting a message and the row being marked sent.
    posts = sw.sink.posts
    assert len(posts) == 2
    assert posts[0].body == posts[1].body
    assert json.loads(posts[1].body)["title"] == "🔧 iCloud Backup is under maintenance"
    assert sw.rows() == []
    sw.check(T1 + timedelta(hours=1))
    assert len(sw.sink.posts) == 2


def test_a_claim_of_another_host_or_a_live_process_waits_until_it_goes_stale(
    sw: Statuswatch,
) -> None:
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    sw.settings["give_up_after"] = "1d"
    sw.sink.set_post_status(500)
    sw.check(T1, body=IN_MAINTENANCE, expect=75)
    [row] = sw.rows()
    store = SqliteStore.open(sw.state_dir)
    try:
        store.retry(row.id, T1)
        assert store.claim(row.id, T1, "some-other-host:4242:99", stale_after=60)
    finally:
        store.close()
    sw.sink.set_post_status(200)
    # Whether a process of another machine lives cannot be told from here: its claim
    # is respected until it goes stale.
    sw.check(T1 + timedelta(seconds=30), expect=75)
    assert sw.sink.accepted() == []
    sw.check(T1 + timedelta(seconds=61))
    assert len(sw.sink.accepted()) == 1


# --- two runs at once --------------------------------------------------------------------


def run_together(sw: Statuswatch, now: datetime, count: int = 2) -> list[Result]:
    processes = [sw.start("check", now=now) for _ in range(count)]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=60)
        results.append(Result(process.returncode, stdout, stderr))
    return results


def test_two_checks_at_once_deliver_a_pending_row_once(sw: Statuswatch) -> None:
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    sw.sink.fail_next(1)
    sw.check(T1, body=IN_MAINTENANCE, expect=75)
    sw.sink.set_post_delay(0.5)  # hold the first delivery open while the other run starts
    results = run_together(sw, T1 + timedelta(minutes=2))
    # The cycle lock serialises them; the second finds the row sent (0) or, had it waited
    # longer than the lock allows, gives up with 75.
    assert sorted(r.code for r in results) in ([0, 0], [0, 75]), [r.output for r in results]
    assert titles(sw.sink, "/hook") == ["🔧 iCloud Backup is under maintenance"]
    assert sw.rows() == []


def test_two_checks_at_once_record_and_deliver_a_new_transition_once(sw: Statuswatch) -> None:
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    sw.subscribe("pager", [sw.hook("/pager")])
    sw.check(T1, body=feed())  # baseline: available
    sw.sink.set_body(IN_MAINTENANCE)
    sw.sink.set_post_delay(0.3)
    results = run_together(sw, T1 + timedelta(minutes=5))
    assert sorted(r.code for r in results) in ([0, 0], [0, 75]), [r.output for r in results]
    expected = ["🔧 iCloud Backup: scheduled maintenance now in progress"]
    assert titles(sw.sink, "/hook") == expected
    assert titles(sw.sink, "/pager") == expected
    transitions = sum(r.stdout.count("→ iCloud Backup") for r in results)
    assert transitions == 1


def test_store_claim_is_a_compare_and_set_across_connections(sw: Statuswatch) -> None:
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    sw.sink.set_post_status(500)
    sw.check(T1, body=IN_MAINTENANCE, expect=75)
    first, second = SqliteStore.open(sw.state_dir), SqliteStore.open(sw.state_dir)
    try:
        [row] = first.outbox_rows()
        now = T1 + timedelta(minutes=5)
        assert first.claim(row.id, now, "one", stale_after=60) is True
        assert second.claim(row.id, now, "two", stale_after=60) is False
        assert second.claim(row.id, now + timedelta(seconds=59), "two", stale_after=60) is False
        # Still waiting: a claimed row counts as due again when its claim goes stale.
        assert second.next_due() == now + timedelta(seconds=60)
        assert second.claim(row.id, now + timedelta(seconds=61), "two", stale_after=60) is True
    finally:
        first.close()
        second.close()


# --- secrets -----------------------------------------------------------------------------

PASSWORD = "S3cretPassw0rd"
PATH_TOKEN = "tok_ABCDEFsecret"
FILE_TOKEN = "file_S3cret_token"
SLACK_TOKENS = ("TOKENA1", "TOKENB2", "TOKENC3")
SECRETS = (PASSWORD, PATH_TOKEN, FILE_TOKEN, *SLACK_TOKENS)


def assert_no_secret(where: str, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    leaked = [secret for secret in SECRETS if secret.encode() in data]
    assert not leaked, f"{where} shows {leaked}"


def test_secrets_never_reach_output_logs_or_the_database(sw: Statuswatch, tmp_path: Path) -> None:
    urls_file = sw.home / "apprise-urls"
    urls_file.write_text(f"# from LoadCredential=\n{sw.hook('/' + FILE_TOKEN)}\n")
    sw.subscribe("ops-hook", [sw.hook(f"/{PATH_TOKEN}", credentials=f"user:{PASSWORD}@")])
    sw.subscribe("filed", [], urls_file=str(urls_file))
    # Configured (so shown by `config show` and known to every redactor), never sent to:
    # the suite must not reach hooks.slack.com.
    sw.subscribe("chat", ["slack://{}/{}/{}".format(*SLACK_TOKENS)], kinds=["source_down"])

    sw.sink.set_post_status(500)
    sw.sink.set_body(IN_MAINTENANCE)
    outputs: list[tuple[str, Result]] = []
    outputs.append(("failing --debug check", sw.run("--debug", "check", now=T1)))
    assert outputs[-1][1].code == 75
    outputs.append(("failing check", sw.run("check", now=T1 + timedelta(minutes=1))))
    assert outputs[-1][1].code == 75
    pending = sw.run("outbox", "--json", now=T1 + timedelta(minutes=1))
    outputs.append(("outbox --json", pending))
    assert {row["subscriber"] for row in json.loads(pending.stdout)} == {"ops-hook", "filed"}
    assert all("500" in row["last_error"] for row in json.loads(pending.stdout))
    outputs.append(("outbox", sw.run("outbox", now=T1 + timedelta(minutes=1))))
    failing_test = sw.run("notify-test", "--subscriber", "ops-hook", now=T1)
    outputs.append(("failing notify-test", failing_test))
    assert "FAILED" in outputs[-1][1].stdout

    sw.sink.set_post_status(200)
    outputs.append(("--debug check", sw.run("--debug", "check", now=T1 + timedelta(hours=1))))
    assert outputs[-1][1].code == 0
    assert len(sw.sink.accepted(f"/{PATH_TOKEN}")) == 1
    assert len(sw.sink.accepted(f"/{FILE_TOKEN}")) == 1
    outputs.append(("check", sw.run("check", now=T1 + timedelta(hours=2))))
    notify = sw.run("--debug", "notify-test", "--subscriber", "filed", now=T1)
    outputs.append(("--debug notify-test", notify))
    assert notify.code == 0 and notify.stdout.startswith("sent")
    outputs.append(("notify-test", sw.run("notify-test", "--subscriber", "ops-hook", now=T1)))
    assert outputs[-1][1].code == 0
    outputs.append(("config show", sw.run("config", "show", now=T1)))
    outputs.append(("config check", sw.run("config", "check", now=T1)))
    outputs.append(("status", sw.run("status", now=T1)))
    assert all(result.code == 0 for _, result in outputs[-4:]), outputs[-4:]

    # A URL apprise cannot parse: a configuration error naming the subscriber, in a
    # state directory of its own.
    broken = Statuswatch(tmp_path / "broken", sw.sink)
    broken.home.mkdir()
    broken.subscribe("ops-hook", [broken.hook(f"/{PATH_TOKEN}", credentials=f"user:{PASSWORD}@")])
    broken.subscribe("broken-chat", ["slack://{}/{}".format(*SLACK_TOKENS[:2])])
    for args in (("check",), ("--debug", "check"), ("config", "check")):
        result = broken.run(*args, now=T1 + timedelta(minutes=len(outputs)))
        outputs.append((" ".join(args) + " with a bad URL", result))
        assert result.code == 78, result.output
        assert "subscriber 'broken-chat'" in result.stderr
    notify = broken.run("notify-test", now=T1)
    outputs.append(("notify-test with a bad URL", notify))
    assert "FAILED  broken-chat" in notify.stdout

    assert len(sw.runs) + len(broken.runs) == len(outputs)
    for what, result in outputs:
        assert_no_secret(f"stdout of `{what}`", result.stdout)
        assert_no_secret(f"stderr of `{what}`", result.stderr)
    assert any("DEBUG apprise" in result.stderr for _, result in outputs)  # logs were on
    for state in (sw, broken):
        files = sorted(p.name for p in state.state_dir.iterdir())
        assert "statuswatch.db" in files
        for path in state.state_dir.iterdir():
            assert_no_secret(f"the file {path.name}", path.read_bytes())


def test_redactor_removes_slack_tokens_as_written() -> None:
    from statuswatch.secrets import Redactor

    url = "slack://TOKENA1/TOKENB2/TOKENC3"
    # What apprise's Slack plugin logs at debug level when a post fails.
    echoed = (
        "Max retries exceeded with url: https://hooks.slack.com/services/TOKENA1/TOKENB2/TOKENC3"
    )
    assert_no_secret("the redacted text", Redactor([url])(echoed))


# --- who gets what: kinds, services, templates, time zones ----------------------------

MAIL_ISSUE = {
    "messageId": "900002",
    "statusType": "Issue",
    "eventStatus": "ongoing",
    "epochStartDate": to_epoch_ms(T1 + timedelta(minutes=55)),
    "epochEndDate": None,
    "message": "Some users may be unable to send mail.",
    "usersAffected": "Some users are affected",
    "affectedServices": None,
    "startDate": "06/14/2025 22:15 UTC",
    "endDate": None,
    "datePosted": "06/14/2025 22:15 UTC",
}


@dataclass
class Scenario:
    sink: FeedServer
    sw: Statuswatch


@pytest.fixture(scope="module")
def three_changes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """iCloud Backup: maintenance (first seen, `initial`) → available (`recovered`);
    iCloud Mail in between: available (silent baseline) → issue. One run per change."""
    with FeedServer() as sink:
        sw = Statuswatch(tmp_path_factory.mktemp("three-changes"), sink, services=[BACKUP, MAIL])
        sw.subscribe("everyone", [sw.hook("/everyone")])
        sw.subscribe("recovered-only", [sw.hook("/recovered-only")], kinds=["recovered"])
        sw.subscribe("mail-only", [sw.hook("/mail-only")], services=["icloud mail"])
        sw.subscribe(
            "paris",
            [sw.hook("/paris")],
            kinds=["recovered"],
            timezone="Europe/Paris",
        )
        sw.subscribe(
            "templated",
            [sw.hook("/templated")],
            kinds=["recovered"],
            title_template="{emoji} {service}: {from_state} → {to_state}",
            body_template="{service} is back after {duration} of {from_state}.\n{link}",
        )
        sw.check(T1, body=IN_MAINTENANCE)
        sw.check(
            T1 + timedelta(hours=1),
            body=feed(iCloud_Backup=[maintenance()], iCloud_Mail=[MAIL_ISSUE]),
        )
        sw.check(
            T_RECOVERED,
            body=feed(
                iCloud_Backup=[maintenance("resolved", message=RESOLVED_TEXT)],
                iCloud_Mail=[MAIL_ISSUE],
            ),
        )
        yield Scenario(sink, sw)


def test_subscriber_without_filters_gets_every_change(three_changes: Scenario) -> None:
    assert titles(three_changes.sink, "/everyone") == [
        "🔧 iCloud Backup is under maintenance",
        "🟠 iCloud Mail: issue",
        "✅ iCloud Backup is available again",
    ]


def test_kinds_filter_recovered_only_gets_no_initial(three_changes: Scenario) -> None:
    assert titles(three_changes.sink, "/recovered-only") == ["✅ iCloud Backup is available again"]


def test_services_filter_gets_nothing_about_icloud_backup(three_changes: Scenario) -> None:
    assert titles(three_changes.sink, "/mail-only") == ["🟠 iCloud Mail: issue"]


def test_subscriber_timezone_shows_local_time_with_zone_name(three_changes: Scenario) -> None:
    [utc] = messages(three_changes.sink, "/recovered-only")
    [paris] = messages(three_changes.sink, "/paris")
    # 23:34 UTC on 14 June is 01:34 the next day in Paris (summer time).
    assert "available again as of Sat 14 Jun 23:34 UTC" in utc["message"]
    assert "available again as of Sun 15 Jun 01:34 CEST" in paris["message"]
    assert " UTC" not in paris["message"]


def test_title_and_body_templates_are_applied(three_changes: Scenario) -> None:
    [message] = messages(three_changes.sink, "/templated")
    assert message["title"] == "✅ iCloud Backup: maintenance → available"
    assert message["message"] == (
        "iCloud Backup is back after 2 h 19 min of maintenance.\n"
        "https://www.apple.com/support/systemstatus/"
    )


def test_bad_template_is_a_configuration_error(sw: Statuswatch) -> None:
    sw.subscribe("templated", [sw.hook("/t")], title_template="{service} {oops}")
    result = sw.run("check", now=T1)
    assert result.code == 78, result.output
    assert "subscribers[0]" in result.stderr and "{oops}" in result.stderr
    assert sw.sink.feed_requests == 0 and sw.sink.posts == []


WINTER = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def test_changes_due_together_are_one_digest_unless_digest_is_off(sw: Statuswatch) -> None:
    sw.services = [BACKUP, MAIL]
    sw.subscribe("digest", [sw.hook("/digest")])  # digest = true is the default
    sw.subscribe("separate", [sw.hook("/separate")], digest=False)
    sw.subscribe("paris", [sw.hook("/paris")], digest=False, timezone="Europe/Paris")
    sw.check(WINTER, body=feed())  # baseline: both available, nothing sent
    assert sw.sink.posts == []
    window = {"start": WINTER, "end": WINTER + timedelta(hours=2)}
    sw.check(
        WINTER + timedelta(minutes=10),
        body=feed(
            iCloud_Backup=[maintenance(**window)],
            iCloud_Mail=[maintenance(**window, message="iCloud Mail maintenance.", message_id="7")],
        ),
    )
    [digest] = messages(sw.sink, "/digest")
    assert digest["title"].startswith("🔧 iCloud Backup: under maintenance (+1 more: ")
    assert "iCloud Backup" in digest["title"] and "iCloud Mail" in digest["title"]
    assert "1/2 · 🔧 iCloud Backup: scheduled maintenance now in progress" in digest["message"]
    assert "2/2 · 🔧 iCloud Mail: scheduled maintenance now in progress" in digest["message"]
    assert sorted(titles(sw.sink, "/separate")) == [
        "🔧 iCloud Backup: scheduled maintenance now in progress",
        "🔧 iCloud Mail: scheduled maintenance now in progress",
    ]
    # Winter: Paris is on CET, one hour ahead of UTC.
    for message in messages(sw.sink, "/paris"):
        assert "Wed 15 Jan 13:10 CET" in message["message"]
        assert "Maintenance window: Wed 15 Jan 13:00–15:00 CET" in message["message"]


# --- notify-test ---------------------------------------------------------------------------


def test_notify_test_sends_a_sample_and_reports_sent(sw: Statuswatch) -> None:
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    sw.subscribe("other", [sw.hook("/other")])
    result = sw.run("notify-test", "--subscriber", "ops-hook", now=T1)
    assert result.code == 0, result.output
    assert result.stdout.startswith("sent    ops-hook  json://127.0.0.1:")
    assert len(result.stdout.splitlines()) == 1
    [message] = messages(sw.sink, "/hook")
    # DESIGN §4: a test says so in its title and first line; the rest is the real layout.
    assert (
        message["title"] == "TEST from statuswatch notify-test: ✅ iCloud Backup is available again"
    )
    first_line = message["message"].splitlines()[0]
    assert first_line.startswith("This is a test sent with `statuswatch notify-test`")
    assert CHECKLIST in message["message"]
    assert messages(sw.sink, "/other") == []
    assert not sw.database.exists() or sw.rows() == []  # a test message is not queued


def test_notify_test_reports_a_failing_target_and_exits_non_zero(sw: Statuswatch) -> None:
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    sw.sink.set_post_status(500)
    result = sw.run("notify-test", "--kind", "outage", now=T1)
    assert result.code == 79, result.output  # a delivery failed (not 69, a feed problem)
    assert result.stdout.startswith("FAILED  ops-hook  json://127.0.0.1:")
    assert "500" in result.stdout
    title = json.loads(sw.sink.posts[0].body)["title"]
    assert title == "TEST from statuswatch notify-test: 🔴 iCloud Backup: outage"


def test_notify_test_unknown_subscriber_is_a_configuration_error(sw: Statuswatch) -> None:
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    result = sw.run("notify-test", "--subscriber", "nobody", now=T1)
    assert result.code == 78, result.output
    assert "'nobody'" in result.stderr and "ops-hook" in result.stderr
    assert sw.sink.posts == []


# --- start-up cost ---------------------------------------------------------------------------


def imported(result: Result) -> set[str]:
    """Module names from `python -X importtime` output."""
    return {
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }


def test_apprise_is_imported_only_when_something_is_delivered(sw: Statuswatch) -> None:
    sw.subscribe("ops-hook", [sw.hook("/hook")])
    sw.sink.set_body(feed())
    importtime = ["-X", "importtime"]
    quiet = sw.run("check", now=T1, python=importtime)  # baseline: nothing to send
    assert quiet.code == 0, quiet.output
    assert "statuswatch.monitor" in imported(quiet)
    assert not any(name.startswith("apprise") for name in imported(quiet))
    # The same command with something due does pay for apprise.
    sw.sink.set_body(IN_MAINTENANCE)
    busy = sw.run("check", now=T1 + timedelta(minutes=5), python=importtime)
    assert busy.code == 0, busy.output
    assert "apprise" in imported(busy)
    assert len(sw.sink.accepted("/hook")) == 1


# --- what apprise posts to Slack ---------------------------------------------------------

SLACK_URL = "slack://TOKENA1/TOKENB2/TOKENC3"


def slack_transition() -> Transition:
    at = datetime(2025, 6, 14, 23, 34, tzinfo=UTC)
    event = Event(
        message_id="900001",
        status_type="Maintenance",
        event_status="resolved",
        message="Fixed <!channel> & <b>done</b>\n<!here> retry <@U123ABC> now",
        users_affected="Some users were affected",
        epoch_start_ms=to_epoch_ms(at - timedelta(hours=2, minutes=14)),
        epoch_end_ms=to_epoch_ms(at - timedelta(minutes=3)),
    )
    return Transition(
        source="apple",
        service="iCloud\nBackup",
        kind=Kind.RECOVERED,
        from_state=State.MAINTENANCE,
        to_state=State.AVAILABLE,
        at=at,
        since=at - timedelta(hours=2, minutes=14),
        event=event,
    )


SLACK_ICON = "https://github.com/caronc/apprise/raw/master/apprise/assets/themes/default/apprise-success-72x72.png"
SLACK_TEXT = (
    "iCloud Backup is available again as of Sat 14 Jun 23:34 UTC, after 2 h 11 min of"
    " maintenance.\n\n"
    'Apple says: "Fixed ‹!\u200bchannel› &amp; &lt;b&gt;done&lt;/b&gt;\n'
    '‹!\u200bhere› retry ‹@U123ABC› now"\n'
    "Users affected: Some users were affected\n"
    "Maintenance window: Sat 14 Jun 21:20–23:31 UTC (2 h 11 min)\n\n"
    "You can retry your iCloud backup now. Quick checks before you do:\n"
    "- Wi-Fi connected and the device plugged into power\n"
    "- Enough free iCloud storage for the backup (Settings → [your name] → iCloud shows what"
    " is left)\n"
    "- Low Power Mode (Settings → Battery) and Low Data Mode (Settings → Wi-Fi → ⓘ next to"
    " your network) off\n"
    "- VPN off\n"
    "- iOS/iPadOS up to date (Settings → General → Software Update)\n"
    "Then: Settings → [your name] → iCloud → iCloud Backup → Back Up Now.\n"
    "If it still fails, sign out of iCloud and back in, or make a local backup on a computer"
    " (Finder on a Mac, the Apple Devices app or iTunes on Windows).\n\n"
    "Status page: https://www.apple.com/support/systemstatus/"
)


def test_slack_payload_for_a_recovered_message_is_exact_and_defanged() -> None:
    import apprise
    import requests

    instance = apprise.Apprise()
    assert instance.add(SLACK_URL)
    answer = mock.Mock(status_code=requests.codes.ok, content=b"ok")
    with mock.patch("requests.request", return_value=answer) as request:
        result = asyncio.run(
            send(instance, render(slack_transition()), "recovered", 5.0, Redactor([SLACK_URL]))
        )
    assert result.ok, result.error
    [call] = request.call_args_list
    assert call.args == ("post", "https://hooks.slack.com/services/TOKENA1/TOKENB2/TOKENC3")
    raw = call.kwargs["data"]
    payload = json.loads(raw)
    assert isinstance(payload["attachments"][0].pop("ts"), float)  # the time of sending
    assert payload == {
        "mrkdwn": False,
        "attachments": [
            {
                "title": "✅ iCloud Backup is available again",
                "text": SLACK_TEXT,
                "color": "#3AA337",
                "footer_icon": SLACK_ICON,
                "footer": "Apprise",
            }
        ],
        "icon_url": SLACK_ICON,
    }
    decoded = json.dumps(payload, ensure_ascii=False)
    for ping in ("<!channel>", "<!here>", "<@U123ABC>", "<!"):
        assert ping not in decoded and ping not in raw
    assert "\n" not in payload["attachments"][0]["title"]


def test_slack_failure_is_reported_and_logged_without_its_tokens() -> None:
    import apprise
    import requests

    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    handler.addFilter(RedactingFilter(Redactor([SLACK_URL])))
    logger = logging.getLogger("apprise")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    failure = requests.ConnectionError(
        "Max retries exceeded with url: /services/TOKENA1/TOKENB2/TOKENC3"
    )
    try:
        instance = apprise.Apprise()
        assert instance.add(SLACK_URL)
        with mock.patch("requests.request", side_effect=failure):
            result = asyncio.run(
                send(
                    instance,
                    render(slack_transition()),
                    "recovered",
                    5.0,
                    Redactor([SLACK_URL]),
                )
            )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    assert not result.ok
    assert result.error and "Slack" in result.error
    assert any("/services/" in line for line in records)  # apprise did log the failing URL
    assert_no_secret("the apprise log", "\n".join(records))
    assert_no_secret("the error", result.error)


# --- back-off arithmetic -----------------------------------------------------------------


def test_retry_delay_doubles_from_30_seconds_and_is_capped_at_one_hour() -> None:
    assert [retry_delay(attempts, 0.0) for attempts in range(9)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert retry_delay(500, 0.0) == 3600


@pytest.mark.parametrize("attempts", [0, 1, 3, 6, 7, 20])
def test_retry_delay_jitter_stays_within_ten_percent_and_under_the_cap(attempts: int) -> None:
    base = min(30 * 2**attempts, 3600)
    low, high = retry_delay(attempts, -1.0), retry_delay(attempts, 1.0)
    assert low == pytest.approx(base * 0.9)
    assert high == pytest.approx(min(base * 1.1, 3600))
    rng = random.Random(4)
    for _ in range(200):
        assert low <= retry_delay(attempts, rng.uniform(-1, 1)) <= high <= 3600


def test_next_attempt_follows_the_backoff_then_gives_up_after_give_up_after() -> None:
    created = T1
    day = 86400.0
    now = created + timedelta(minutes=5)
    assert next_attempt(created, 0, now, day, 0.0) == now + timedelta(seconds=30)
    assert next_attempt(created, 3, now, day, 0.0) == now + timedelta(seconds=240)
    assert next_attempt(created, 3, now, day, 1.0) == now + timedelta(seconds=264)
    # Never scheduled past the deadline: the last try happens at it.
    late = created + timedelta(hours=23, minutes=50)
    assert next_attempt(created, 30, late, day, 0.0) == created + timedelta(seconds=day)
    # At or past the deadline: dead.
    assert next_attempt(created, 30, created + timedelta(seconds=day), day, 0.0) is None
    assert next_attempt(created, 2, created + timedelta(hours=2), 3600.0, 0.0) is None
