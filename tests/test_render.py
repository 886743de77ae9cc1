"""statuswatch.notify.render: what people actually read, and that feed text cannot abuse it."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from apprise import NotifyFormat
from apprise.conversion import convert_between

from statuswatch.model import Kind, State, Transition
from statuswatch.notify.digest import render_digest
from statuswatch.notify.render import (
    APPLE_STATUS_PAGE,
    TEMPLATE_FIELDS,
    Message,
    TemplateError,
    format_duration,
    neutralise,
    neutralise_title,
    render,
    sample_transition,
    validate_template,
    validate_timezone,
)
from tests import builders
from tests.builders import timed_event

# A Tuesday in summer time: 16:00 UTC is 18:00 CEST in Paris.
NOW = datetime(2024, 5, 14, 16, 0, tzinfo=UTC)
PINGS = re.compile(r"<[ \t]*[!@#]|[@!](?:channel|here|everyone)\b", re.IGNORECASE)


event = timed_event
# Messages are rendered for a change seen at NOW in the consumer feed; a plain transition
# here is available -> available with no event unless a test says otherwise.
transition = functools.partial(
    builders.transition,
    at=NOW,
    from_state=State.AVAILABLE,
    to_state=State.AVAILABLE,
    since=None,
    event=None,
    source="consumer",
)


def recovered(service: str = "iCloud Backup", **overrides: object) -> Transition:
    values: dict[str, object] = {
        "service": service,
        "from_state": State.MAINTENANCE,
        "to_state": State.AVAILABLE,
        "since": NOW - timedelta(hours=2, minutes=14),
        "event": event(
            event_status="resolved",
            message=f"{service} was unavailable due to scheduled maintenance.",
            users_affected="Some users were affected",
            start=NOW - timedelta(hours=2, minutes=14),
            end=NOW - timedelta(minutes=5),
        ),
    }
    values.update(overrides)
    return transition(Kind.RECOVERED, **values)  # type: ignore[arg-type]


# --- titles ---------------------------------------------------------------------------------

WINDOW_EVENT = event(
    event_status="scheduled",
    start=datetime(2024, 5, 14, 18, 0, tzinfo=UTC),
    end=datetime(2024, 5, 14, 19, 0, tzinfo=UTC),
)


@pytest.mark.parametrize(
    ("given", "title"),
    [
        (recovered(), "✅ iCloud Backup is available again"),
        (
            transition(Kind.MAINTENANCE, to_state=State.MAINTENANCE, event=event()),
            "🔧 iCloud Backup: scheduled maintenance now in progress",
        ),
        (transition(Kind.OUTAGE, to_state=State.OUTAGE), "🔴 iCloud Backup: outage"),
        (transition(Kind.ISSUE, to_state=State.ISSUE), "🟠 iCloud Backup: issue"),
        (
            transition(Kind.PERFORMANCE, to_state=State.PERFORMANCE),
            "🟡 iCloud Backup: degraded performance",
        ),
        (
            transition(Kind.INITIAL, from_state=None, to_state=State.MAINTENANCE),
            "🔧 iCloud Backup is under maintenance",
        ),
        (
            transition(Kind.INITIAL, from_state=None, to_state=State.OUTAGE),
            "🔴 iCloud Backup has an outage right now",
        ),
        (
            transition(Kind.INITIAL, from_state=None, to_state=State.ISSUE),
            "🟠 iCloud Backup has an issue right now",
        ),
        (
            transition(Kind.INITIAL, from_state=None, to_state=State.PERFORMANCE),
            "🟡 iCloud Backup has degraded performance right now",
        ),
        (
            transition(Kind.SCHEDULED, event=WINDOW_EVENT),
            "📅 iCloud Backup: maintenance scheduled for Tue 14 May 18:00–19:00 UTC",
        ),
        (
            transition(Kind.SOURCE_DOWN, service=None, from_state=None, to_state=State.UNKNOWN),
            "⚠️ statuswatch cannot read Apple's status feed (consumer)",
        ),
        (
            transition(
                Kind.SOURCE_UP,
                service=None,
                from_state=State.UNKNOWN,
                to_state=State.AVAILABLE,
                source="developer",
            ),
            "statuswatch can read Apple's status feed again (developer)",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_title_per_kind(given: Transition, title: str) -> None:
    message = render(given)
    assert message.title == title
    assert message.kinds == (str(given.kind),)


# --- bodies ---------------------------------------------------------------------------------

ICLOUD_CHECKS = (
    "You can retry your iCloud backup now",
    "Wi-Fi connected",
    "plugged into power",
    "Enough free iCloud storage for the backup",
    "Low Power Mode",
    "Low Data Mode",
    "VPN off",
    "iOS/iPadOS up to date",
    "Settings → [your name] → iCloud → iCloud Backup → Back Up Now",
    "sign out of iCloud and back in",
    "make a local backup on a computer",
    "Finder",
    "Apple Devices",
    "iTunes",
)


def test_recovered_icloud_backup_body() -> None:
    body = render(recovered()).body
    assert body.startswith(
        "iCloud Backup is available again as of Tue 14 May 16:00 UTC,"
        " after 2 h 9 min of maintenance."
    )
    for check in ICLOUD_CHECKS:
        assert check in body
    assert 'Apple says: "iCloud Backup was unavailable due to scheduled maintenance."' in body
    assert "Users affected: Some users were affected" in body
    assert "Maintenance window: Tue 14 May 13:46–15:55 UTC (2 h 9 min)" in body
    assert f"Status page: {APPLE_STATUS_PAGE}" in body


def test_icloud_backup_is_matched_case_insensitively() -> None:
    body = render(recovered(service="ICLOUD backup")).body
    assert "Back Up Now" in body


def test_recovered_other_service_has_no_backup_checklist() -> None:
    body = render(recovered(service="Mail")).body
    assert body.startswith("Mail is available again as of Tue 14 May 16:00 UTC, after 2 h 9 min")
    assert 'Apple says: "Mail was unavailable due to scheduled maintenance."' in body
    assert "you can try again now" in body
    for check in ("Back Up Now", "Low Power Mode", "VPN off", "iCloud storage"):
        assert check not in body


def test_recovered_without_known_duration_still_says_what_ended() -> None:
    given = recovered(since=None, from_state=State.OUTAGE, event=event(event_status="resolved"))
    body = render(given).body
    assert "available again as of Tue 14 May 16:00 UTC, after an outage." in body


def test_state_change_body_says_what_it_was_before_and_for_how_long() -> None:
    given = transition(
        Kind.OUTAGE,
        from_state=State.MAINTENANCE,
        to_state=State.OUTAGE,
        since=NOW - timedelta(minutes=45),
        event=event("Outage", message="Users are unable to back up.", start=NOW),
    )
    body = render(given).body
    assert "Apple reports an outage of iCloud Backup as of Tue 14 May 16:00 UTC." in body
    assert "Before that: under maintenance for 45 min." in body
    assert 'Apple says: "Users are unable to back up."' in body
    assert "Started (per Apple): Tue 14 May 16:00 UTC" in body
    assert "You will get a message when it is available again." in body


def test_initial_body() -> None:
    given = transition(
        Kind.INITIAL, from_state=None, to_state=State.MAINTENANCE, since=NOW, event=event()
    )
    body = render(given).body
    assert body.startswith(
        "statuswatch has started watching iCloud Backup. It is under maintenance right now;"
        " you will be told when it is back."
    )


def test_scheduled_body_gives_window_length_message_and_promise() -> None:
    body = render(transition(Kind.SCHEDULED, event=WINDOW_EVENT), timezone="Europe/Paris").body
    assert "Apple has scheduled maintenance for iCloud Backup." in body
    assert "When: Tue 14 May 20:00–21:00 CEST (1 h)" in body
    assert 'Apple says: "iCloud Backup is unavailable due to scheduled maintenance."' in body
    assert "You will get a message when it is over." in body


def test_scheduled_without_end_says_so() -> None:
    open_ended = event(event_status="scheduled", start=datetime(2024, 5, 14, 18, tzinfo=UTC))
    message = render(transition(Kind.SCHEDULED, event=open_ended))
    assert message.title == "📅 iCloud Backup: maintenance scheduled for Tue 14 May 18:00 UTC"
    assert "When: Tue 14 May 18:00 UTC (Apple gives no end time)" in message.body


def test_source_down_and_up_bodies() -> None:
    down = transition(
        Kind.SOURCE_DOWN,
        service=None,
        from_state=None,
        to_state=State.UNKNOWN,
        since=NOW - timedelta(minutes=35),
    )
    body = render(down).body
    assert "It has had no data since Tue 14 May 15:25 UTC (35 min)." in body
    assert "statuswatch keeps trying" in body
    up = transition(
        Kind.SOURCE_UP,
        service=None,
        from_state=State.UNKNOWN,
        since=NOW - timedelta(hours=1, minutes=5),
    )
    assert "unreadable since Tue 14 May 14:55 UTC (1 h 5 min)" in render(up).body


def test_links_prefer_apples_service_page_then_configured_then_default() -> None:
    with_page = recovered(redirect_url=" https://developer.apple.com/icloud/cloudkit/")
    fields = "{link}|{status_page}"
    assert render(with_page, body_template=fields).body == (
        f"https://developer.apple.com/icloud/cloudkit/|{APPLE_STATUS_PAGE}"
    )
    assert "About iCloud Backup: https://developer.apple.com/icloud/cloudkit/" in (
        render(with_page).body
    )
    mine = "https://status.example.org/apple"
    assert render(recovered(), status_page=mine, body_template=fields).body == f"{mine}|{mine}"
    assert f"Status page: {mine}" in render(recovered(), status_page=mine).body


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/phish",
        "javascript:alert(1)",
        "https://apple.com.evil.example/",
        "https://user@www.apple.com/",
        "https://evil.example\\@www.apple.com/",
        "https://www.apple.com/ <b>",
    ],
)
def test_feed_links_that_do_not_point_at_apple_are_dropped(url: str) -> None:
    message = render(recovered(redirect_url=url), body_template="{link}")
    assert message.body == APPLE_STATUS_PAGE


# --- time zones and durations ---------------------------------------------------------------


def test_default_timezone_is_utc() -> None:
    assert "as of Tue 14 May 16:00 UTC" in render(recovered()).body


def test_paris_summer_time_shows_cest_and_local_time() -> None:
    body = render(recovered(), timezone="Europe/Paris").body
    assert "as of Tue 14 May 18:00 CEST" in body
    assert "Maintenance window: Tue 14 May 15:46–17:55 CEST" in body


def test_paris_winter_time_shows_cet() -> None:
    winter = datetime(2024, 1, 16, 16, 0, tzinfo=UTC)
    given = recovered(at=winter, since=winter - timedelta(minutes=45), event=None)
    assert "as of Tue 16 Jan 17:00 CET, after 45 min of maintenance." in (
        render(given, timezone="Europe/Paris").body
    )


def test_local_date_can_differ_from_utc_date() -> None:
    late = datetime(2024, 5, 14, 23, 30, tzinfo=UTC)
    body = render(recovered(at=late, event=None), timezone="Europe/Paris").body
    assert "as of Wed 15 May 01:30 CEST" in body


def test_numeric_zone_abbreviation_is_spelled_as_utc_offset() -> None:
    assert "as of Tue 14 May 20:00 UTC+04" in render(recovered(), timezone="Asia/Dubai").body


def test_window_across_a_daylight_saving_change_shows_both_zones() -> None:
    spring = event(
        event_status="scheduled",
        start=datetime(2024, 3, 31, 0, 30, tzinfo=UTC),
        end=datetime(2024, 3, 31, 2, 30, tzinfo=UTC),
    )
    title = render(transition(Kind.SCHEDULED, event=spring), timezone="Europe/Paris").title
    assert title.endswith("scheduled for Sun 31 Mar 01:30 CET – 04:30 CEST")


def test_window_across_midnight_repeats_the_day() -> None:
    night = event(
        event_status="scheduled",
        start=datetime(2024, 5, 14, 22, 0, tzinfo=UTC),
        end=datetime(2024, 5, 15, 2, 0, tzinfo=UTC),
    )
    title = render(transition(Kind.SCHEDULED, event=night)).title
    assert title.endswith("scheduled for Tue 14 May 22:00 – Wed 15 May 02:00 UTC")


def test_unknown_timezone_falls_back_to_utc_and_is_rejected_by_validation() -> None:
    assert "as of Tue 14 May 16:00 UTC" in render(recovered(), timezone="Mars/Olympus").body
    with pytest.raises(ValueError, match="Mars/Olympus"):
        validate_timezone("Mars/Olympus")
    validate_timezone("Europe/Paris")
    validate_timezone("UTC")


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "less than 1 min"),
        (timedelta(seconds=59), "less than 1 min"),
        (timedelta(minutes=1), "1 min"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(minutes=60), "1 h"),
        (timedelta(hours=2, minutes=14, seconds=59), "2 h 14 min"),
        (timedelta(hours=23, minutes=59), "23 h 59 min"),
        (timedelta(days=1), "1 d"),
        (timedelta(days=3, hours=4, minutes=59), "3 d 4 h"),
        (timedelta(days=40, minutes=5), "40 d"),
    ],
)
def test_format_duration(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


def test_negative_durations_are_refused_and_never_shown() -> None:
    with pytest.raises(ValueError):
        format_duration(timedelta(seconds=-1))
    # A clock that went backwards must not produce "after -5 min".
    given = recovered(since=NOW + timedelta(minutes=5), event=event(event_status="resolved"))
    message = render(given, body_template="[{duration}]")
    assert message.body == "[]"


# --- neutralising feed text -----------------------------------------------------------------


def test_slack_and_mass_pings_are_defanged_in_title_and_body() -> None:
    nasty = "<!channel> <!here> <!everyone> <@U123> <#C123> < !here> @channel @here @Everyone"
    given = recovered(
        service=f"iCloud Backup {nasty}",
        event=event(message=f"Hi {nasty}", users_affected=f"All {nasty}"),
    )
    message = render(given)
    assert PINGS.search(message.title) is None
    assert PINGS.search(message.body) is None
    # Defanged, not deleted: people can still read what Apple (or an attacker) wrote.
    assert "‹!\u200bchannel›" in message.body
    assert "‹@U123›" in message.body
    assert "@\u200bhere" in message.body


def test_newlines_in_feed_text_cannot_break_the_title() -> None:
    given = recovered(service="iCloud\r\nBcc: victim@example.com\nBackup\u2028X")
    title = render(given).title
    assert title == "✅ iCloud Bcc: victim@example.com Backup X is available again"


def test_control_characters_are_stripped_from_body_but_newlines_kept() -> None:
    message = "line one\x00\x07\x1b[31m\x9b\u202e\nline two\r\nline three"
    body = render(recovered(event=event(event_status="resolved", message=message))).body
    assert 'Apple says: "line one[31m\nline two\nline three"' in body
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", body)


def test_neutralise_caps_with_an_ellipsis() -> None:
    assert neutralise("abcdef", max_len=6) == "abcdef"
    assert neutralise("abcdef", max_len=4) == "abc…"
    assert neutralise_title("a\nb\tc   d", max_len=200) == "a b c d"
    assert neutralise(" x \n\n\n\n y ", max_len=100) == "x\n\n y"


def test_long_feed_text_is_capped() -> None:
    long_message = "word " * 1000
    body = render(recovered(event=event(event_status="resolved", message=long_message))).body
    quoted = re.search(r'Apple says: "(.*)"', body)
    assert quoted is not None
    assert len(quoted.group(1)) == 1000
    assert quoted.group(1).endswith("…")
    title = render(recovered(service="S" * 500)).title
    assert len(title) <= 200
    assert "…" in title


def test_html_from_the_feed_stays_literal_text_through_apprise() -> None:
    html = "<script>alert(1)</script> <b>bold</b> &amp;"
    given = recovered(service="Mail <b>x</b>", event=event(message=html))
    message = render(given)
    assert "<b>bold</b>" in message.body  # literal, as Apple (or an attacker) wrote it
    for text in (message.body, message.title):
        as_html = convert_between(NotifyFormat.TEXT, NotifyFormat.HTML, text)
        assert "<b>" not in as_html
        assert "<script" not in as_html
        assert "&lt;b&gt;" in as_html


def test_render_does_not_import_apprise() -> None:
    code = "import sys, statuswatch.notify.render; sys.exit('apprise' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- digests --------------------------------------------------------------------------------


def test_digest_contains_every_transition_in_time_order() -> None:
    early = transition(
        Kind.OUTAGE, service="Mail", to_state=State.OUTAGE, at=NOW - timedelta(hours=1)
    )
    middle = recovered(at=NOW)
    late = transition(
        Kind.SOURCE_DOWN,
        service=None,
        from_state=None,
        to_state=State.UNKNOWN,
        at=NOW + timedelta(minutes=30),
    )
    message = render_digest([late, early, middle])
    # The title leads with the recovery, then the rest by importance.
    assert message.title == (
        "✅ iCloud Backup available again (+2 more: Mail: outage, feed (consumer) unreadable)"
    )
    assert message.kinds == ("outage", "recovered", "source_down")
    titles = [render(item).title for item in (early, middle, late)]
    positions = [message.body.index(f"{n}/3 · {title}") for n, title in enumerate(titles, 1)]
    assert positions == sorted(positions)
    for item in (early, middle, late):
        assert render(item).body in message.body
    assert "1. 🔴 Mail: outage — Tue 14 May 15:00 UTC" in message.body


def test_digest_never_drops_a_transition_even_when_the_title_cannot_list_all() -> None:
    many = [
        recovered(service=f"Service number {n:02d}", at=NOW + timedelta(minutes=n))
        for n in range(30)
    ]
    message = render_digest(list(reversed(many)))
    assert len(message.title) <= 200
    assert message.title.startswith(
        "✅ Service number 00 available again (+29 more: Service number 01 available again,"
    )
    assert message.title.endswith(", …)")
    for n in range(30):
        assert f"{n + 1}/30 · ✅ Service number {n:02d} is available again" in message.body


def test_digest_keeps_given_order_for_simultaneous_transitions() -> None:
    first, second = recovered(service="Mail"), recovered(service="Maps")
    body = render_digest([first, second]).body
    assert body.index("1/2 · ✅ Mail") < body.index("2/2 · ✅ Maps")


def test_digest_of_one_is_that_message_and_of_none_is_an_error() -> None:
    assert render_digest([recovered()]) == render(recovered())
    with pytest.raises(ValueError):
        render_digest([])


def test_digest_applies_templates_per_section() -> None:
    message = render_digest(
        [recovered(service="Mail"), recovered(service="Maps")], title_template="[{service}]"
    )
    assert "1/2 · [Mail]" in message.body
    assert message.title == "✅ Mail available again (+1 more: Maps available again)"


# --- templates ------------------------------------------------------------------------------


def test_templates_substitute_fields() -> None:
    message = render(
        recovered(),
        timezone="Europe/Paris",
        title_template="[{kind}] {service} back after {duration}",
        body_template="{default_title}\n{at} / {at_iso} / {since} / {from_state}->{to_state}",
    )
    # For a recovery, since and duration come from Apple's epochs (13:46-15:55 UTC).
    assert message.title == "[recovered] iCloud Backup back after 2 h 9 min"
    assert message.body == (
        "✅ iCloud Backup is available again\n"
        "Tue 14 May 18:00 CEST / 2024-05-14T16:00:00Z / Tue 14 May 15:46 CEST"
        " / maintenance->available"
    )


def test_every_documented_field_is_available() -> None:
    template = " ".join(f"{name}=<{{{name}}}>" for name in TEMPLATE_FIELDS)
    validate_template(template)
    body = render(recovered(), body_template=template).body
    assert "service=<iCloud Backup>" in body
    assert "window=<Tue 14 May 13:46–15:55 UTC>" in body
    assert "timezone=<UTC>" in body
    assert "status_type=<Maintenance>" in body


def test_template_fields_are_neutralised() -> None:
    given = recovered(event=event(message="<!channel>\nsecond line"))
    message = render(given, title_template="{message}", body_template="{message}")
    assert message.title == "‹!\u200bchannel› second line"
    assert message.body == "‹!\u200bchannel›\nsecond line"


def test_template_output_keeps_title_on_one_line_and_blank_falls_back() -> None:
    assert render(recovered(), title_template="a\nb").title == "a b"
    fallback = render(recovered(event=None), title_template="{message}", body_template="{message}")
    assert fallback.title == "✅ iCloud Backup is available again"
    assert fallback.body == render(recovered(event=None)).body


def test_unknown_field_names_the_field_and_lists_valid_ones() -> None:
    with pytest.raises(TemplateError) as caught:
        validate_template("{service} is {staus}")
    text = str(caught.value)
    assert "{staus}" in text
    assert "service" in text and "duration" in text and "default_body" in text
    assert isinstance(caught.value, ValueError)
    with pytest.raises(TemplateError, match="staus"):
        render(recovered(), body_template="{staus}")


@pytest.mark.parametrize(
    "template",
    [
        "{service.__class__}",
        "{service[0]}",
        "{}",
        "{0}",
        "{service",
        "service}",
        "{service:d}",
        "{service:>99999999}",
        "{service:{nope}}",
    ],
)
def test_invalid_templates_are_rejected(template: str) -> None:
    with pytest.raises(TemplateError):
        validate_template(template)


@pytest.mark.parametrize(
    "template", ["{service:>20}", "{message!r}", "{{literal}} {kind}", "no fields at all"]
)
def test_valid_templates_pass(template: str) -> None:
    validate_template(template)


# --- samples --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [kind.value for kind in Kind])
def test_every_sample_renders(kind: str) -> None:
    sample = sample_transition(kind, now=NOW)
    assert sample.kind == kind
    message = render(sample, timezone="Europe/Paris")
    assert isinstance(message, Message)
    assert message.kinds == (kind,)
    assert message.title and message.body
    assert "CEST" in message.body


def test_default_sample_is_icloud_backup_back_after_maintenance() -> None:
    message = render(sample_transition(now=NOW))
    assert message.title == "✅ iCloud Backup is available again"
    assert "after 2 h 14 min of maintenance" in message.body
    assert "Back Up Now" in message.body


def test_sample_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="recovered"):
        sample_transition("explosion")
