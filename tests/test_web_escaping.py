"""Hostile feed text through every output of the HTTP surface, and a secret grep over all
of them (DESIGN §4, §8), against a real `statuswatch run`.

The feed names a service and writes a message with markup (`<script>`, `</svg>`), a CDATA
end (`]]>`), quotes, and bidi/zero-width characters; a subscriber has a password, a path
token and a query token. Every response must carry the text as text and none of the
secrets, the subscriber's name or its target.
"""

from __future__ import annotations

import html.parser
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import feedparser
import pytest

from tests.peers import FeedServer
from tests.test_daemon import DaemonProcess, spawn, wait_until
from tests.test_web_daemon import PATHS, promtool_check, start, states
from tests.webtools import free_port, maintenance_feed, raw_event, tool, web_config

__all__ = ["spawn"]

EVIL_NAME = "Evil <script>alert(\"x\")</script></svg> ]]> 'q' \u202eeman\u2066\u200b"
EVIL_MESSAGE = (
    'Down <script>alert(1)</script> </svg><svg onload="x()"> ]]><![CDATA[ "quoted" '
    "'single' \u202egnp.exe\u202c \u200bhidden\u2067 <b>bold</b>"
)
VISIBLE_NAME = "Evil <script>alert(\"x\")</script></svg> ]]> 'q' eman"
INVISIBLE = ("\u202e", "\u202c", "\u2066", "\u2067", "\u200b")
SUBSCRIBER = "alice-private-subscriber"
PASSWORD = "S3cretPassw0rd"
PATH_TOKEN = "T0KENPATHSECRET"
QUERY_TOKEN = "QUERYSECRETVALUE"


@pytest.fixture
def sink() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    with FeedServer() as server:
        event = raw_event("2000010666", "Outage", "ongoing", None, None, message=EVIL_MESSAGE)
        event["epochStartDate"] = 1_700_000_000_000
        server.set_body(maintenance_feed(EVIL_MESSAGE, extra={EVIL_NAME: [event]}))
        yield server


class Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(value or "" for _, value in attrs)
        for name, _ in attrs:
            assert not name.startswith("on"), f"event handler attribute {name} on <{tag}>"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_feed_text_is_escaped_everywhere_and_no_secret_is_served(
    spawn: Callable[..., DaemonProcess], feed: FeedServer, sink: FeedServer, tmp_path: Path
) -> None:
    port = free_port()
    url = f"json://user:{PASSWORD}@127.0.0.1:{sink.port}/hooks/{PATH_TOKEN}?token={QUERY_TOKEN}"
    text = web_config(feed.url(), port, services='["*"]')
    text += f'\n[[subscribers]]\nname = "{SUBSCRIBER}"\nurls = ["{url}"]\n'
    run, web = start(spawn, text, port)
    wait_until(lambda: states(web).get(EVIL_NAME) == "outage", "the hostile service's outage")

    # -- HTML: the text is there, as text; no markup of the feed's survives ----------------
    page = web.get("/").text
    parsed = Tags()
    parsed.feed(page)
    assert "script" not in parsed.tags and "b" not in parsed.tags
    assert parsed.tags.count("svg") == page.count("</svg>")  # no svg closed early
    shown = "".join(parsed.text)
    assert VISIBLE_NAME in shown
    assert 'Down <script>alert(1)</script> </svg><svg onload="x()"> ]]><![CDATA[ "quoted"' in shown
    assert any(VISIBLE_NAME in value for value in parsed.attributes)  # quoted attributes
    for mark in INVISIBLE:
        assert mark not in page, f"U+{ord(mark):04X} reached the page"

    # -- SVG badge ---------------------------------------------------------------------
    badge = web.get(f"/badge/{quote(EVIL_NAME)}.svg")
    assert badge.status_code == 200
    root = ET.fromstring(badge.content)
    assert all(not element.tag.endswith("script") for element in root.iter())
    assert VISIBLE_NAME in "".join(root.itertext())
    for mark in INVISIBLE:
        assert mark not in badge.text
    shield = web.json(f"/badge/{quote(EVIL_NAME)}.json")
    assert shield["label"] == VISIBLE_NAME

    # -- Atom --------------------------------------------------------------------------
    for path in ("/feed.atom", f"/feed.atom?service={quote(EVIL_NAME)}"):
        atom = web.get(path)
        assert atom.status_code == 200, path
        result = feedparser.parse(atom.content)
        assert not result.bozo, result.get("bozo_exception")
        contents = [entry.content[0].value for entry in result.entries]
        assert any("<script>alert(1)</script> </svg>" in c and "]]>" in c for c in contents)
        assert any(VISIBLE_NAME in entry.title for entry in result.entries)
        ET.fromstring(atom.content)  # well-formed XML as well
        for mark in INVISIBLE:
            assert mark not in atom.text

    # -- Prometheus: the library escapes label values ------------------------------------
    metrics = web.get("/metrics").text
    promtool_check(metrics, tmp_path)
    assert "statuswatch_service_state{" in metrics

    # -- no secret, subscriber or target anywhere ----------------------------------------
    wait_until(lambda: len(sink.requests) >= 1, "a delivery to the subscriber's sink")
    paths = [*PATHS, f"/badge/{quote(EVIL_NAME)}.svg", "/nowhere", "/api/v1/history?since=xx"]
    forbidden = [PASSWORD, PATH_TOKEN, QUERY_TOKEN, SUBSCRIBER, f"127.0.0.1:{sink.port}", url]
    for path in paths:
        response = web.get(path)
        served = "\n".join(f"{k}: {v}" for k, v in response.headers.items()) + response.text
        for secret in forbidden:
            assert secret not in served, f"{secret!r} served at {path}"
    run.stop()


def test_promtool_rejects_what_it_should(tmp_path: Path) -> None:
    """promtool really checks: a hand-written family without HELP and a bad name fail."""
    promtool = tool("promtool")
    done = subprocess.run(
        [promtool, "check", "metrics"],
        input="# TYPE bad-name gauge\nbad-name 1\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
