"""DESIGN §1: parse_feed turns untrusted bytes into a Snapshot or one plain-line refusal."""

from __future__ import annotations

import codecs
import csv
import json
from pathlib import Path

import pytest

from statuswatch.sources.apple import FeedFormatError, parse_feed
from tests.builders import T0_MS, feed_bytes, raw_event, raw_feed
from tests.conftest import HISTORY, SAMPLES

CONSUMER_LAST = HISTORY / "consumer/2025-06-23T08-34-01Z.json"
DEVELOPER_LAST = HISTORY / "developer/2025-06-21T08-28-41Z.js"


def rejection(body: bytes) -> str:
    with pytest.raises(FeedFormatError) as caught:
        parse_feed(body)
    message = str(caught.value)
    assert message
    assert "\n" not in message and "\r" not in message
    assert len(message) < 300
    return message


# --- every real file ---------------------------------------------------------------

# file -> (services, events) when it parses, or a fragment of the refusal
SAMPLE_OUTCOMES: dict[str, tuple[int, int] | str] = {
    "appleservicestatus/developer-2020-02.json": (27, 1),
    "horothesun/example01.json": (19, 1),
    "macadmins/dep-maintenance-2018-service-fragment.json": "single service object",
    "rch850/system_status_en_US.js_1355925648372.js": "2012 format",
    "statusbuddy/customer-no-issues.json": (65, 0),
    "statusbuddy/customer-one-ongoing-issue.json": (63, 2),
    "statusbuddy/customer-three-ongoing-issues.json": (65, 4),
    "statusbuddy/customer-three-resolved-issues.json": (65, 4),
    "statusbuddy/developer-no-issues.json": (38, 0),
    "statusbuddy/developer-one-ongoing-issue.json": (33, 16),
    "statusbuddy/developer-one-resolved-issue.f89f3dc.json": (38, 1),
    "statusbuddy/developer-one-resolved-issue.json": (38, 1),
    "statusbuddy/developer-one-scheduled-issue.json": (46, 11),
}


def test_every_sample_file_is_classified() -> None:
    on_disk = {p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*") if p.is_file()}
    assert on_disk == set(SAMPLE_OUTCOMES)


@pytest.mark.parametrize("name", sorted(SAMPLE_OUTCOMES))
def test_sample_parses_or_is_rejected_with_its_reason(name: str) -> None:
    body = (SAMPLES / name).read_bytes()
    expected = SAMPLE_OUTCOMES[name]
    if isinstance(expected, str):
        assert expected in rejection(body)
        return
    snap = parse_feed(body)
    assert (len(snap.services), sum(len(s.events) for s in snap.services)) == expected
    assert snap.warnings == ()


def test_the_2012_format_and_the_fragment_say_what_they_are() -> None:
    old = rejection((SAMPLES / "rch850/system_status_en_US.js_1355925648372.js").read_bytes())
    assert "dashboard" in old and "'services'" in old
    fragment = (SAMPLES / "macadmins/dep-maintenance-2018-service-fragment.json").read_bytes()
    assert "not a feed" in rejection(fragment)


def history_index() -> list[dict[str, str]]:
    with (HISTORY / "index.tsv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


HISTORY_ROWS = history_index()


def test_index_lists_every_history_file() -> None:
    on_disk = {p.relative_to(HISTORY).as_posix() for p in HISTORY.glob("*/*") if p.is_file()}
    assert on_disk == {row["file"] for row in HISTORY_ROWS}
    assert len(on_disk) == 41


@pytest.mark.parametrize("row", HISTORY_ROWS, ids=lambda row: row["file"])
def test_history_file_parses_like_its_index_row(row: dict[str, str]) -> None:
    snap = parse_feed((HISTORY / row["file"]).read_bytes())
    expected_services = 79 if row["file"].startswith("consumer/") else 48
    assert len(snap.services) == expected_services == int(row["services"])
    assert snap.warnings == ()
    assert snap.drpost is False and snap.dr_message is None
    listed = sorted(
        [s.name, e.status_type, e.event_status] for s in snap.services for e in s.events
    )
    expected = sorted(
        [name.strip(), kind, status] for name, kind, status in json.loads(row["event_list"])
    )
    assert listed == expected
    assert len(listed) == int(row["events"])
    for svc in snap.services:
        assert svc.name == svc.name.strip()
        assert svc.redirect_url is None or svc.redirect_url == svc.redirect_url.strip()
        for ev in svc.events:
            assert ev.message_id.isdigit()
            assert isinstance(ev.epoch_start_ms, int)


def test_history_service_lists_never_change() -> None:
    for feed in ("consumer", "developer"):
        names = {
            tuple(s.name for s in parse_feed(path.read_bytes()).services)
            for path in sorted((HISTORY / feed).iterdir())
        }
        assert len(names) == 1


# --- wrappers, escapes, names ------------------------------------------------------


def test_jsonp_wrapper_is_removed() -> None:
    snap = parse_feed(DEVELOPER_LAST.read_bytes())
    assert DEVELOPER_LAST.read_bytes().startswith(b"jsonCallback(")
    assert len(snap.services) == 48
    dep = snap.by_name()["Device Enrollment Program"]
    assert [e.message_id for e in dep.events] == ["2000004687"]


@pytest.mark.parametrize(
    "wrap",
    [
        "jsonCallback({});",
        "jsonCallback({})",
        "  jsonCallback ( {} ) ;\n",
        "cb.v2({});",
        "{}",
        "\n\t{}  \n",
    ],
)
def test_wrappers_and_whitespace_around_the_json(wrap: str) -> None:
    document = json.dumps(raw_feed({"iCloud Backup": [raw_event()]}))
    snap = parse_feed(wrap.replace("{}", document).encode())
    assert [s.name for s in snap.services] == ["iCloud Backup"]


@pytest.mark.parametrize("jsonp", [False, True])
def test_utf8_bom_is_accepted(jsonp: bool) -> None:
    body = codecs.BOM_UTF8 + feed_bytes(raw_feed({"iCloud Backup": []}), jsonp=jsonp)
    assert [s.name for s in parse_feed(body).services] == ["iCloud Backup"]


def test_escaped_slashes_horothesun_2017() -> None:
    raw = (SAMPLES / "horothesun/example01.json").read_bytes()
    assert rb"https:\/\/developer.apple.com" in raw
    snap = parse_feed(raw)
    services = snap.by_name()
    assert services["Account"].redirect_url == "https://developer.apple.com/account/"
    (testflight,) = services["TestFlight"].events
    assert testflight.start_date == "02/28/2017 09:40 PST"
    assert testflight.affected_services == ()  # the key is missing in this capture
    assert testflight.epoch_start_ms == 1488303600000


def test_escaped_slashes_statusbuddy_f89f3dc_match_the_pretty_copy() -> None:
    escaped = (SAMPLES / "statusbuddy/developer-one-resolved-issue.f89f3dc.json").read_bytes()
    assert rb"\/" in escaped
    pretty = parse_feed((SAMPLES / "statusbuddy/developer-one-resolved-issue.json").read_bytes())
    snap = parse_feed(escaped)
    assert snap.by_name()["Account"].redirect_url == "https://developer.apple.com/account/"
    assert [(s.name, s.redirect_url, s.events) for s in snap.services] == [
        (s.name, s.redirect_url, s.events) for s in pretty.services
    ]


def test_html_entities_in_names_are_decoded() -> None:
    raw = (SAMPLES / "statusbuddy/customer-one-ongoing-issue.json").read_bytes()
    assert b"iCloud Account &amp; Sign In" in raw
    names = {s.name for s in parse_feed(raw).services}
    assert {"iCloud Account & Sign In", "iCloud Bookmarks & Tabs"} <= names
    assert "Maps Routing & Navigation" in names
    assert not any("&amp;" in name for name in names)


def test_names_and_urls_are_trimmed_in_the_developer_feed() -> None:
    raw = DEVELOPER_LAST.read_bytes()
    assert b'"App Store Connect - App Processing "' in raw
    assert b'"https://appstoreconnect.apple.com "' in raw
    assert b'" https://developer.apple.com/documentation/appstoreservernotifications"' in raw
    services = parse_feed(raw).by_name()
    assert "App Store Connect - App Processing" in services
    urls = {s.redirect_url for s in services.values()}
    assert "https://appstoreconnect.apple.com" in urls
    assert "https://developer.apple.com/documentation/appstoreservernotifications" in urls
    assert all(u is None or u == u.strip() for u in urls)


def test_trailing_space_name_in_the_2024_scheduled_sample() -> None:
    raw = (SAMPLES / "statusbuddy/developer-one-scheduled-issue.json").read_bytes()
    services = parse_feed(raw).by_name()
    processing = services["App Store Connect - App Processing"]
    assert [e.message_id for e in processing.events] == ["2000003600"]
    (upcoming, _) = services["App Store Connect - TestFlight"].events
    assert (upcoming.message_id, upcoming.event_status) == ("2000003619", "upcoming")
    assert (upcoming.epoch_start_ms, upcoming.epoch_end_ms) == (1715709600000, 1715713200000)


# --- malformed events and fields ---------------------------------------------------


@pytest.mark.parametrize("bad", ["soon", "12:00", "1.5e", True, {"ms": 1}, [1]])
def test_a_non_numeric_epoch_skips_only_that_event_with_a_warning(bad: object) -> None:
    broken = raw_event("2", start_ms=None)
    broken["epochStartDate"] = bad
    document = raw_feed(
        {"iCloud Backup": [raw_event("1"), broken, raw_event("3")], "iCloud Mail": [raw_event("4")]}
    )
    snap = parse_feed(feed_bytes(document))
    services = snap.by_name()
    assert [e.message_id for e in services["iCloud Backup"].events] == ["1", "3"]
    assert [e.message_id for e in services["iCloud Mail"].events] == ["4"]
    (warning,) = snap.warnings
    assert "iCloud Backup" in warning and "epochStartDate" in warning
    assert "\n" not in warning


def test_numeric_epochs_in_other_spellings_are_accepted() -> None:
    spelled = raw_event("1")
    spelled["epochStartDate"] = str(T0_MS)
    spelled["epochEndDate"] = float(T0_MS + 1000)
    (ev,) = parse_feed(feed_bytes(raw_feed({"S": [spelled]}))).services[0].events
    assert (ev.epoch_start_ms, ev.epoch_end_ms) == (T0_MS, T0_MS + 1000)


def test_nulls_where_lists_were() -> None:
    document = raw_feed({"iCloud Backup": [raw_event(affected=None)], "iCloud Mail": []})
    document["services"][1]["events"] = None
    snap = parse_feed(feed_bytes(document))
    services = snap.by_name()
    assert services["iCloud Backup"].events[0].affected_services == ()
    assert services["iCloud Mail"].events == ()


def test_extra_fields_are_ignored() -> None:
    event = raw_event("1", affected=["iCloud Backup", "iCloud Mail"])
    event["severityColor"] = "grey"
    event["nested"] = {"a": [1, 2]}
    document = raw_feed({"iCloud Backup": [event]})
    document["newTopLevel"] = {"x": 1}
    document["services"][0]["iconUrl"] = "https://example.com/i.png"
    (svc,) = parse_feed(feed_bytes(document)).services
    (ev,) = svc.events
    assert ev.message_id == "1"
    assert ev.affected_services == ("iCloud Backup", "iCloud Mail")


def test_missing_fields_get_neutral_values() -> None:
    document = {"services": [{"serviceName": "iCloud Backup", "events": [{"messageId": "7"}]}]}
    snap = parse_feed(feed_bytes(document))
    (svc,) = snap.services
    assert svc.redirect_url is None
    (ev,) = svc.events
    assert (ev.status_type, ev.event_status, ev.message) == ("", "", "")
    assert (ev.epoch_start_ms, ev.epoch_end_ms, ev.start_date) == (None, None, None)
    assert (snap.drpost, snap.dr_message) == (False, None)


def test_hand_made_events_without_message_id_get_a_stable_identity() -> None:
    raw = (SAMPLES / "statusbuddy/customer-three-ongoing-issues.json").read_bytes()
    first = parse_feed(raw).by_name()["Apple Business Manager"]
    again = parse_feed(raw).by_name()["Apple Business Manager"]
    ids = [e.message_id for e in first.events]
    assert ids == [e.message_id for e in again.events]
    assert len(set(ids)) == 2


def test_bad_services_are_skipped_with_warnings() -> None:
    document = raw_feed({"iCloud Backup": [], "iCloud Mail": []})
    document["services"] += [
        "not an object",
        {"serviceName": "  ", "events": []},
        {"serviceName": "ICLOUD BACKUP", "events": [raw_event()]},
        {"serviceName": "Maps", "events": {"not": "a list"}},
        {"serviceName": "Photos", "events": [None, raw_event("9")]},
    ]
    snap = parse_feed(feed_bytes(document))
    services = snap.by_name()
    assert list(services) == ["iCloud Backup", "iCloud Mail", "Maps", "Photos"]
    assert services["iCloud Backup"].events == ()  # the first listing wins
    assert services["Maps"].events == ()
    assert [e.message_id for e in services["Photos"].events] == ["9"]
    assert len(snap.warnings) == 5
    assert all("\n" not in w for w in snap.warnings)


# --- bodies that are not a feed ----------------------------------------------------


def test_html_error_page() -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>503</title></head><body>Down</body></html>\n"
    assert "HTML page" in rejection(page)
    assert "HTML page" in rejection(codecs.BOM_UTF8 + b"  \n" + page)


@pytest.mark.parametrize("path", [CONSUMER_LAST, DEVELOPER_LAST], ids=["json", "jsonp"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.99])
def test_truncated_body(path: Path, fraction: float) -> None:
    body = path.read_bytes()
    message = rejection(body[: int(len(body) * fraction)])
    assert "truncated" in message


def test_truncated_one_byte_short() -> None:
    assert "truncated" in rejection(CONSUMER_LAST.read_bytes()[:-1])


@pytest.mark.parametrize("body", [b"", b"   \n\t", codecs.BOM_UTF8, b"jsonCallback();"])
def test_empty_body(body: bytes) -> None:
    assert "empty" in rejection(body)


def test_services_missing() -> None:
    message = rejection(b'{"drpost": false, "drMessage": null}')
    assert "no 'services' list" in message
    assert "drMessage" in message


@pytest.mark.parametrize(
    ("services", "kind"), [({"a": 1}, "dict"), ("iCloud", "str"), (42, "int"), (True, "bool")]
)
def test_services_not_a_list(services: object, kind: str) -> None:
    message = rejection(json.dumps({"services": services}).encode())
    assert "'services'" in message and "not a list" in message and kind in message


def test_services_null_is_rejected() -> None:
    assert "no 'services' list" in rejection(b'{"services": null}')


@pytest.mark.parametrize("body", [b"[]", b'[{"services": []}]', b"jsonCallback([1]);"])
def test_json_array(body: bytes) -> None:
    message = rejection(body)
    assert "JSON array" in message and "not a JSON object" in message


@pytest.mark.parametrize("body", [b"null", b"42", b'"services"'])
def test_json_scalars(body: bytes) -> None:
    assert "not a JSON object with a 'services' list" in rejection(body)


@pytest.mark.parametrize(
    "body",
    [
        '{"services": [{"serviceName": "Caf\u00e9"}]}'.encode("latin-1"),
        '{"services": []}'.encode("utf-16"),
        b'{"services": [{"serviceName": "\xff\xfe"}]}',
    ],
)
def test_not_utf8(body: bytes) -> None:
    assert "not UTF-8" in rejection(body)


def test_invalid_json_in_the_middle() -> None:
    body = b'{"services": [{"serviceName": "A"} {"serviceName": "B"}], "drpost": false}'
    message = rejection(body)
    assert "not valid JSON" in message and "line 1" in message


def test_garbage() -> None:
    assert "not valid JSON" in rejection(b"Service Unavailable")


# --- size --------------------------------------------------------------------------


def test_five_megabyte_body_of_valid_json_still_parses() -> None:
    events = [raw_event(str(i), message="x" * 400) for i in range(50)]
    document = raw_feed({f"Service {n:05d}": events for n in range(250)})
    body = feed_bytes(document, jsonp=True)
    assert len(body) > 5 * 1024 * 1024
    snap = parse_feed(body)
    assert len(snap.services) == 250
    assert sum(len(s.events) for s in snap.services) == 250 * 50


# --- crash classes found by fuzzing (issue 10 item 4): each is a refusal or a clean parse --

BACKUP_FEED = feed_bytes(raw_feed({"iCloud Backup": [raw_event("1")]}))


@pytest.mark.parametrize("depth", [1_000, 5_000, 100_000])
def test_json_nested_a_thousand_deep_is_refused_not_a_recursion_error(depth: int) -> None:
    nested = b"[" * depth + b"1" + b"]" * depth
    body = BACKUP_FEED.replace(b'"drMessage":null', b'"drMessage":' + nested)
    message = rejection(body)
    assert "nested too deeply" in message


def test_shallow_nesting_in_an_unknown_field_is_ignored() -> None:
    body = BACKUP_FEED.replace(b'"drMessage":null', b'"extra":' + b"[" * 50 + b"]" * 50)
    assert parse_feed(body).by_name()["iCloud Backup"].events[0].message_id == "1"


@pytest.mark.parametrize("digits", [31, 4_301, 5_000, 100_000])
def test_an_integer_thousands_of_digits_long_is_refused(digits: int) -> None:
    body = BACKUP_FEED.replace(str(T0_MS).encode(), b"9" * digits)
    message = rejection(body)
    assert f"{digits} digits" in message


def test_a_huge_integer_in_a_string_epoch_skips_that_event() -> None:
    event = raw_event("2")
    event["epochStartDate"] = "9" * 5000
    snap = parse_feed(feed_bytes(raw_feed({"iCloud Backup": [raw_event("1"), event]})))
    assert [e.message_id for e in snap.services[0].events] == ["1"]
    assert "epochStartDate" in snap.warnings[0] and len(snap.warnings[0]) < 200


@pytest.mark.parametrize("digits", ["١٢٣٤", "²", "12³"])
def test_non_ascii_digits_in_a_string_epoch_are_not_a_number(digits: str) -> None:
    event = raw_event("2")
    event["epochEndDate"] = digits
    snap = parse_feed(feed_bytes(raw_feed({"S": [raw_event("1"), event]})))
    assert [e.message_id for e in snap.services[0].events] == ["1"]
    assert "epochEndDate is not a number" in snap.warnings[0]


@pytest.mark.parametrize("key", ["message", "usersAffected", "serviceName", "affectedServices"])
@pytest.mark.parametrize(
    "entity", ["&#" + "9" * 5000 + ";", "&#x" + "F" * 5000 + ";", "&#99999999;", "&#1114112;"]
)
def test_a_huge_character_reference_in_any_text_field_becomes_a_replacement_char(
    key: str, entity: str
) -> None:
    event = raw_event("1")
    document = raw_feed({"iCloud Backup": [event]})
    if key == "serviceName":
        document["services"][0]["serviceName"] = f"iCloud {entity} Backup"
    elif key == "affectedServices":
        event["affectedServices"] = [f"A {entity}"]
    else:
        event[key] = f"before {entity} after"
    (service,) = parse_feed(feed_bytes(document)).services
    (parsed,) = service.events
    text = {
        "message": parsed.message,
        "usersAffected": parsed.users_affected,
        "serviceName": service.name,
        "affectedServices": " ".join(parsed.affected_services),
    }[key]
    assert "\ufffd" in text
    assert len(text) < 30


def test_ordinary_character_references_still_decode() -> None:
    event = raw_event("1", message="Mail &amp; Calendar &#8212; &#x41;&lt;b&gt;")
    (parsed,) = parse_feed(feed_bytes(raw_feed({"S": [event]}))).services[0].events
    assert parsed.message == "Mail & Calendar — A<b>"


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(constant: bytes) -> None:
    body = BACKUP_FEED.replace(str(T0_MS).encode(), constant)
    assert f"{constant.decode()} is not a JSON value" in rejection(body)


@pytest.mark.parametrize("epoch", [253402300800000, -62135596800001, 2**63, 10**20, 1e300, -1e300])
def test_an_epoch_outside_the_years_1_to_9999_skips_that_event(epoch: float) -> None:
    event = raw_event("2")
    event["epochEndDate"] = epoch
    snap = parse_feed(feed_bytes(raw_feed({"S": [raw_event("1"), event]})))
    assert [e.message_id for e in snap.services[0].events] == ["1"]
    assert "between the years 1 and 9999" in snap.warnings[0]


@pytest.mark.parametrize("epoch", [253402300799999, -62135596800000, 0, -1])
def test_epochs_at_the_edges_of_the_datetime_range_are_kept(epoch: int) -> None:
    (parsed,) = parse_feed(feed_bytes(raw_feed({"S": [raw_event("1", end_ms=epoch)]}))).services
    assert parsed.events[0].epoch_end_ms == epoch


def test_a_lone_surrogate_in_text_becomes_a_replacement_char() -> None:
    # JSON allows "\ud800"; SQLite, logs and channels cannot encode it.
    body = BACKUP_FEED.replace(b'"serviceName":"iCloud Backup"', b'"serviceName":"iCloud \\ud800"')
    body = body.replace(b'"statusType":"Issue"', b'"statusType":"Iss\\udfffue"')
    (service,) = parse_feed(body).services
    assert service.name == "iCloud \ufffd"
    assert service.events[0].status_type == "Iss\ufffdue"
    service.name.encode("utf-8")


def test_a_key_with_a_newline_does_not_break_the_one_line_reason() -> None:
    message = rejection(b'{"bad\\nkey": 1, "x\\ud800": 2}')
    assert "bad key" in message


@pytest.mark.parametrize(
    "wrapper",
    [b"/**/jsonCallback(%s);", b"window.jsonCallback (%s);\n", b"\xef\xbb\xbf  jsonCallback(%s)"],
)
def test_jsonp_wrapper_variants_are_unwrapped(wrapper: bytes) -> None:
    snap = parse_feed(wrapper.replace(b"%s", BACKUP_FEED))
    assert [service.name for service in snap.services] == ["iCloud Backup"]


def test_a_five_megabyte_body_parses() -> None:
    event = raw_event("1", message="x" * 5_000_000)
    (service,) = parse_feed(feed_bytes(raw_feed({"iCloud Backup": [event]}))).services
    assert len(service.events[0].message) == 5_000_000
