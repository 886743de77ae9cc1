"""`/feed.atom`: an Atom feed (RFC 4287) of transitions, one entry each. Pure.

Entry ids are `urn:uuid:`s derived from what identifies a transition (source, service,
kind, time, event), so they stay the same across restarts, exports and nodes. The XML
is built with ElementTree, which escapes every text and attribute; feed text is cleaned
first so that nothing XML cannot carry reaches it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import tzinfo
from xml.etree import ElementTree as ET

from statuswatch.describe import describe_transition
from statuswatch.model import Transition, format_utc
from statuswatch.sources.apple import STATUS_PAGES
from statuswatch.web.page import STATE_WORDS, clean, clean_line
from statuswatch.web.reader import Reading

ATOM = "http://www.w3.org/2005/Atom"
NAMESPACE = uuid.UUID("6f1d9a3e-2b8c-5e47-9a1f-3c5d7e9b0a24")
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
MAX_ENTRIES = 200


def entry_id(transition: Transition) -> str:
    event = transition.event.message_id if transition.event else ""
    key = "\x1f".join(
        [
            transition.source,
            (transition.service or "").casefold(),
            str(transition.kind),
            format_utc(transition.at),
            event,
        ]
    )
    return uuid.uuid5(NAMESPACE, key).urn


def entry_title(transition: Transition) -> str:
    what = transition.service or f"{transition.source} feed"
    kind = str(transition.kind)
    if kind == "recovered":
        text = f"{what} is available again"
    elif kind == "initial":
        text = f"{what}: {STATE_WORDS[transition.to_state].lower()}"
    elif kind == "scheduled":
        noun = transition.event.status_type.lower() if transition.event else "event"
        text = f"{what}: {noun} scheduled"
    elif kind == "source_down":
        text = f"The {transition.source} feed cannot be read"
    elif kind == "source_up":
        text = f"The {transition.source} feed is readable again"
    else:
        text = f"{what}: {STATE_WORDS[transition.to_state].lower()}"
    return clean_line(text, 200)


def entry_content(transition: Transition) -> str:
    lines = [describe_transition(transition)]
    event = transition.event
    if event is not None and event.message:
        lines.append(f"Apple: {event.message}")
    return clean("\n".join(lines), 2000)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def render_feed(
    reading: Reading,
    transitions: Sequence[Transition],
    *,
    self_href: str,
    alternate_href: str,
    service: str | None = None,
    zone: tzinfo | None = None,
) -> bytes:
    """The feed XML; `transitions` oldest first (entries are written newest first)."""
    del zone  # times are RFC 3339 UTC, as Atom wants them
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    title = "statuswatch: Apple services"
    if service:
        title = f"statuswatch: {clean_line(service)}"
    _sub(feed, "id", uuid.uuid5(NAMESPACE, f"feed\x1f{(service or '').casefold()}").urn)
    _sub(feed, "title", title)
    newest = max((t.at for t in transitions), default=reading.at)
    _sub(feed, "updated", format_utc(newest))
    author = _sub(feed, "author")
    _sub(author, "name", "statuswatch")
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_href)
    _sub(feed, "link", rel="alternate", type="text/html", href=alternate_href)
    _sub(feed, "generator", "statuswatch")
    for transition in list(reversed(transitions))[:MAX_ENTRIES]:
        entry = _sub(feed, "entry")
        _sub(entry, "id", entry_id(transition))
        _sub(entry, "title", entry_title(transition))
        _sub(entry, "updated", format_utc(transition.at))
        _sub(entry, "published", format_utc(transition.at))
        kind = reading.feed_kinds.get(transition.source, "consumer")
        _sub(entry, "link", rel="alternate", type="text/html", href=STATUS_PAGES.get(kind, ""))
        _sub(entry, "category", term=str(transition.kind))
        _sub(entry, "content", entry_content(transition), type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
