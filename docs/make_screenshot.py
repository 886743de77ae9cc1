"""Rebuild docs/status-page.png: the status page during an iCloud Backup maintenance.

Runs `statuswatch check` against a local feed server through six weeks of made-up
history (pinned clock, STATUSWATCH_NOW), exports the page and has headless chromium
take a screenshot of it. Needs Debian's chromium. Usage: python docs/make_screenshot.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.builders import feed_bytes, raw_event, raw_feed  # noqa: E402
from tests.peers import FeedServer  # noqa: E402
from tests.webtools import chromium  # noqa: E402

NOW = datetime(2026, 12, 2, 9, 40, tzinfo=UTC)
MS = 1000


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * MS)


def feed(at: datetime, events: dict[str, list[tuple[str, str, datetime, datetime, str]]]) -> bytes:
    services = {}
    for name in ("iCloud Backup", "Schoolwork", "App Store"):
        services[name] = [
            raw_event(mid, kind, status, ms(start), ms(end), message=text)
            for mid, kind, status, start, end, text in events.get(name, [])
        ]
    return feed_bytes(raw_feed(services))


def main() -> None:
    backup_msg = (
        "iCloud Backup is undergoing scheduled maintenance. During this time, some users "
        "may be unable to back up their devices or restore from a backup."
    )
    school_msg = "Schoolwork will be unavailable during planned maintenance."
    outage_start = NOW - timedelta(days=19, hours=5)
    maint_start = NOW - timedelta(hours=1, minutes=10)
    plan_start = NOW + timedelta(days=1, hours=12)
    timeline = [NOW - timedelta(days=42) + timedelta(days=d) for d in range(0, 42, 3)]
    timeline += [outage_start, outage_start + timedelta(hours=3)]
    timeline += [NOW - timedelta(days=8, hours=2), NOW - timedelta(days=8)]
    timeline += [maint_start + timedelta(minutes=1), NOW]
    with tempfile.TemporaryDirectory() as tmp, FeedServer() as server:
        config = Path(tmp) / "c.toml"
        config.write_text(
            f'state_dir = "{tmp}/state"\ntimezone = "Europe/Paris"\n[[sources]]\nname = "apple"\n'
            f'url = "{server.url()}"\nservices = ["iCloud Backup", "Schoolwork", "App Store"]\n'
        )
        for at in sorted(timeline):
            events: dict[str, list[tuple[str, str, datetime, datetime, str]]] = {}
            if outage_start <= at < outage_start + timedelta(hours=3):
                events["App Store"] = [
                    (
                        "1",
                        "Outage",
                        "ongoing",
                        outage_start,
                        at + timedelta(hours=1),
                        "Users may be unable to make purchases.",
                    )
                ]
            if NOW - timedelta(days=8, hours=2) <= at < NOW - timedelta(days=8):
                events["Schoolwork"] = [
                    (
                        "2",
                        "Performance",
                        "ongoing",
                        at,
                        at + timedelta(hours=2),
                        "Schoolwork is slower than usual.",
                    )
                ]
            if at >= maint_start:
                events["iCloud Backup"] = [
                    (
                        "3",
                        "Maintenance",
                        "ongoing",
                        maint_start,
                        maint_start + timedelta(hours=3),
                        backup_msg,
                    )
                ]
                events["Schoolwork"] = [
                    (
                        "4",
                        "Maintenance",
                        "upcoming",
                        plan_start,
                        plan_start + timedelta(hours=2),
                        school_msg,
                    )
                ]
            server.set_body(feed(at, events))
            env = {**os.environ, "STATUSWATCH_NOW": at.isoformat(), "PYTHONPATH": str(ROOT)}
            subprocess.run(
                [sys.executable, "-m", "statuswatch", "check", "-q", "--config", str(config)],
                env=env,
                check=False,
                capture_output=True,
            )
        site = Path(tmp) / "site"
        env = {**os.environ, "STATUSWATCH_NOW": NOW.isoformat(), "PYTHONPATH": str(ROOT)}
        subprocess.run(
            [sys.executable, "-m", "statuswatch", "export", str(site), "--config", str(config)],
            env=env,
            check=True,
        )
        out = ROOT / "docs" / "status-page.png"
        done = chromium(
            "--window-size=720,1230", f"--screenshot={out}", f"file://{site}/index.html"
        )
        print(done.stdout, done.stderr[-500:] if done.returncode else "", out)


if __name__ == "__main__":
    main()
