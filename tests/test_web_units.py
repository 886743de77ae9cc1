"""The pure parts of the HTTP surface (90-day strip, health, query parsing) and the app
in process over a real store: it never writes to the database. Plus the static export."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from statuswatch.config import Settings, SourceConfig, load_settings
from statuswatch.model import Kind, State, Transition
from statuswatch.store import SqliteStore
from statuswatch.tracker import ServiceTrack
from statuswatch.views import SourceView
from statuswatch.web import timeline
from statuswatch.web.app import WebContext, build_app, parse_since
from statuswatch.web.health import health
from statuswatch.web.reader import Reading
from tests.inprocess import run_statuswatch
from tests.peers import FeedServer
from tests.webtools import maintenance_feed

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def tr(
    kind: Kind,
    at: datetime,
    frm: State | None,
    to: State,
    since: datetime | None = None,
    service: str | None = "iCloud Backup",
) -> Transition:
    return Transition("apple", service, kind, frm, to, at, since)


# -- the 90-day strip ----------------------------------------------------------------------


def test_strip_shows_the_worst_state_per_day_and_no_data_before_the_first_poll() -> None:
    first_seen = NOW - timedelta(days=3, hours=12)  # 29 Nov 00:00
    start = NOW - timedelta(days=1, hours=2)  # 1 Dec 10:00
    end = NOW - timedelta(days=1)  # 1 Dec 12:00
    transitions = [
        tr(Kind.MAINTENANCE, start, State.AVAILABLE, State.MAINTENANCE, since=first_seen),
        tr(Kind.RECOVERED, end, State.MAINTENANCE, State.AVAILABLE, since=start),
    ]
    track = ServiceTrack("iCloud Backup", State.AVAILABLE, end)
    parts = timeline.segments("icloud backup", "apple", track, transitions, NOW)
    days = timeline.days(parts, NOW, UTC, count=6)
    assert [d.worst for d in days] == [
        State.UNKNOWN,  # 27 Nov
        State.UNKNOWN,  # 28 Nov
        State.AVAILABLE,  # 29 Nov: seen from midnight
        State.AVAILABLE,
        State.MAINTENANCE,  # 1 Dec: 2 h of maintenance beats 22 h available
        State.AVAILABLE,  # today, so far
    ]
    assert days[0].title() == "Fri 27 Nov 2026: no data"
    assert days[3].title() == "Mon 30 Nov 2026: available all day"
    assert days[4].title() == "Tue 01 Dec 2026: maintenance 2 h, available 22 h"


def test_strip_counts_a_feed_outage_as_no_data_not_as_available() -> None:
    first_seen = NOW - timedelta(days=5)
    transitions = [
        tr(
            Kind.SOURCE_DOWN,
            NOW - timedelta(days=2),
            None,
            State.UNKNOWN,
            since=NOW - timedelta(days=2, hours=12),
            service=None,
        ),
        tr(Kind.SOURCE_UP, NOW - timedelta(hours=12), None, State.AVAILABLE, service=None),
    ]
    track = ServiceTrack("iCloud Backup", State.AVAILABLE, first_seen)
    parts = timeline.segments("iCloud Backup", "apple", track, transitions, NOW)
    days = timeline.days(parts, NOW, UTC, count=3)
    # Down from its last good poll (30 Nov 00:00) until readable again (2 Dec 00:00).
    assert [d.worst for d in days] == [State.UNKNOWN, State.UNKNOWN, State.AVAILABLE]
    assert days[1].title() == "Tue 01 Dec 2026: no data"


def test_strip_days_follow_the_configured_time_zone() -> None:
    zone = ZoneInfo("Pacific/Auckland")  # UTC+13 in December
    track = ServiceTrack("iCloud Backup", State.OUTAGE, NOW - timedelta(hours=1))
    parts = timeline.segments("iCloud Backup", "apple", track, [], NOW)
    (today,) = timeline.days(parts, NOW, zone, count=1)
    assert today.day.isoformat() == "2026-12-03"
    assert today.worst is State.OUTAGE


# -- health and query parsing --------------------------------------------------------------


def reading(last_success: datetime | None) -> Reading:
    settings = Settings(stale_after=600)
    source = SourceView("apple", ok=True, last_success=last_success, last_poll=last_success)
    return Reading(NOW, settings, [source], [], {})


def test_health_is_ok_within_stale_after_and_says_why_not_otherwise() -> None:
    assert health(reading(NOW - timedelta(minutes=9)))[0] is True
    ok, reason = health(reading(NOW - timedelta(minutes=11)))
    assert not ok
    assert reason == ("the apple feed was last read 11 min ago (more than stale_after, 10 min)")
    assert health(reading(None)) == (
        False,
        "the apple feed has not been read successfully yet",
    )


def test_since_takes_an_age_a_time_or_all() -> None:
    assert parse_since("12h", NOW) == NOW - timedelta(hours=12)
    assert parse_since(None, NOW) == NOW - timedelta(days=7)
    assert parse_since("2026-11-01T00:00:00Z", NOW) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("all", NOW) is None
    with pytest.raises(ValueError, match="neither an age"):
        parse_since("last tuesday", NOW)


# -- the app over a real store ---------------------------------------------------------------


def sw(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("STATUSWATCH_")}
    full.update(PYTHONPATH=str(ROOT), **(env or {}))
    return run_statuswatch(args, env=full)


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """A config whose state dir holds one `check` of a maintenance feed."""
    with FeedServer() as feed:
        feed.set_body(maintenance_feed())
        config = tmp_path / "c.toml"
        config.write_text(
            f'state_dir = "{tmp_path / "state"}"\n[[sources]]\nname = "apple"\n'
            f'url = "{feed.url()}"\nservices = ["iCloud Backup", "Schoolwork"]\n'
        )
        done = sw("check", "--config", str(config))
        assert done.returncode == 0, done.stderr
    return config


def point_at(config: Path, url: str) -> str:
    """Make the config's source poll `url`; returns the new text."""
    text = config.read_text()
    text = text.replace(text.split('url = "')[1].split('"')[0], url)
    config.write_text(text)
    return text


def digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.name.startswith("statuswatch.db")
    }


async def test_no_request_writes_to_the_database(recorded: Path) -> None:
    settings = load_settings(recorded)
    state = Path(str(settings.state_dir))
    store = SqliteStore.open(state)
    try:
        before = digest(state)
        app = build_app(WebContext(store, lambda: settings, lambda: datetime.now(UTC)))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for path in (
                "/",
                "/api/v1/status",
                "/api/v1/history?since=all",
                "/feed.atom",
                "/badge/Schoolwork.svg",
                "/metrics",
                "/healthz",
                "/api/v1/services",
            ):
                assert (await client.get(path)).status_code == 200, path
            assert (await client.get("/api/v1/status")).json()["sources"][0]["services"][0][
                "state"
            ] == "maintenance"
        assert digest(state) == before
    finally:
        store.close()


def test_check_json_and_the_api_share_one_shape(recorded: Path) -> None:
    """Same keys at every level; `check` and the store agree on the states."""
    with FeedServer() as feed:
        feed.set_body(maintenance_feed())
        point_at(recorded, feed.url())
        done = sw("check", "--json", "--config", str(recorded))
    assert done.returncode == 0, done.stderr
    from_check = json.loads(done.stdout)
    settings = load_settings(recorded)
    store = SqliteStore.open(Path(str(settings.state_dir)))
    try:
        from statuswatch import views
        from statuswatch.web.reader import read

        r = read(store, settings, datetime.now(UTC))
        from_api = views.status_document(r.at, r.sources, r.recent(), r.deliveries)
    finally:
        store.close()
    assert set(from_check) == set(from_api)
    assert from_check["version"] == from_api["version"] == 1
    check_source, api_source = from_check["sources"][0], from_api["sources"][0]
    assert set(check_source) == set(api_source)
    assert set(check_source["services"][0]) == set(api_source["services"][0])
    assert [(s["name"], s["state"]) for s in check_source["services"]] == [
        (s["name"], s["state"]) for s in api_source["services"]
    ]


# -- the static export -------------------------------------------------------------------


def test_export_writes_the_whole_site_atomically(recorded: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = sw("export", str(site), "--config", str(recorded))
    assert done.returncode == 0, done.stderr
    names = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert names == [
        "badge/Schoolwork.json",
        "badge/Schoolwork.svg",
        "badge/iCloud Backup.json",
        "badge/iCloud Backup.svg",
        "feed.atom",
        "history.json",
        "index.html",
        "services.json",
        "status.json",
        "style.css",
    ]  # and no temporary file left behind
    page = (site / "index.html").read_text()
    assert 'href="status.json"' in page and 'href="style.css"' in page
    assert json.loads((site / "status.json").read_text())["version"] == 1
    assert oct((site / "index.html").stat().st_mode & 0o777) == "0o644"


def test_check_refreshes_the_export_and_says_so_when_it_cannot(
    recorded: Path, tmp_path: Path
) -> None:
    site = tmp_path / "exported"
    config = recorded.read_text().replace("[[sources]]", f'[export]\ndir = "{site}"\n\n[[sources]]')
    with FeedServer() as feed:
        feed.set_body(maintenance_feed(resolved=True))
        recorded.write_text(config)
        config = point_at(recorded, feed.url())
        done = sw("check", "--config", str(recorded))
        assert done.returncode == 0, done.stderr
        assert "Available" in (site / "index.html").read_text()

        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        recorded.write_text(config.replace(str(site), str(blocker / "site")))
        done = sw("check", "--config", str(recorded))
    assert done.returncode == 73
    assert done.stderr.strip().splitlines() == [
        f"statuswatch: cannot write the export to {blocker / 'site'}: Not a directory; "
        "fix its permissions or choose another [export] dir"
    ]


def test_export_needs_a_folder(recorded: Path) -> None:
    done = sw("export", "--config", str(recorded))
    assert done.returncode == 2
    assert "statuswatch export DIR" in done.stderr


def test_settings_without_sources_config_still_read(tmp_path: Path) -> None:
    """A source that was never polled shows as no data, not as available."""
    settings = Settings(sources=[SourceConfig(name="x", url="http://127.0.0.1:9/")])
    store = SqliteStore.open(tmp_path)
    try:
        from statuswatch.web.reader import read

        r = read(store, settings, NOW)
    finally:
        store.close()
    (source,) = r.sources
    assert (source.ok, source.error) == (False, "not polled yet")
    assert [(row.name, row.state) for row in source.rows] == [("iCloud Backup", State.UNKNOWN)]
