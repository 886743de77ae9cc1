"""Helpers for the HTTP-surface tests: free ports, feeds built around now, real tools.

Real consumers check what we serve: Debian's `promtool` (prometheus), headless Debian
`chromium`, and feedparser. Without `$CI` a missing tool skips its test; under `$CI`
it fails, since .ci/run installs them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.builders import feed_bytes, raw_event, raw_feed

HOUR_MS = 3_600_000
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or tool("chromium")
    with tempfile.TemporaryDirectory(prefix="sw-chromium-") as profile:
        return subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def now_ms() -> int:
    return int(time.time() * 1000)


def maintenance_feed(
    message: str = "iCloud Backup is undergoing scheduled maintenance. "
    "Some users may be unable to back up their devices.",
    *,
    resolved: bool = False,
    extra: dict[str, list[dict[str, Any]]] | None = None,
) -> bytes:
    """iCloud Backup under maintenance (ongoing, or resolved), Schoolwork with maintenance
    planned for tomorrow, and whatever `extra` adds."""
    start = now_ms() - 2 * HOUR_MS
    services: dict[str, list[dict[str, Any]]] = {
        "iCloud Backup": [
            raw_event(
                "2000010001",
                "Maintenance",
                "resolved" if resolved else "ongoing",
                start,
                start + 4 * HOUR_MS,
                message=message,
            )
        ],
        "Schoolwork": [
            raw_event(
                "2000010002",
                "Maintenance",
                "upcoming",
                now_ms() + 24 * HOUR_MS,
                now_ms() + 26 * HOUR_MS,
                message="Schoolwork will be unavailable during planned maintenance.",
            )
        ],
        "App Store": [],
    }
    services.update(extra or {})
    return feed_bytes(raw_feed(services))


def web_config(feed_url: str, port: int, *, extra: str = "", services: str = "") -> str:
    watched = services or '["iCloud Backup", "Schoolwork", "App Store"]'
    return f"""\
interval = "1s"
timeout = "3s"
timezone = "Europe/Paris"

[[sources]]
name = "apple"
url = "{feed_url}"
services = {watched}
interval = "1s"

[http]
listen = "127.0.0.1:{port}"
{extra}
"""


def wait_http(url: str, timeout: float = 15.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(f"nothing answered at {url} within {timeout:g}s")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
