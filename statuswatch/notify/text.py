"""Neutralising text from Apple's feed before it reaches a title, body or template. Pure.

Every string that comes from the feed (service names, messages, users affected, status
words, links) is untrusted (DESIGN §4): line breaks are kept only where a body allows them,
controls and bidi tricks are dropped, chat pings are defanged, lengths are capped, and a
link is kept only if it plainly points at apple.com.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

APPLE_STATUS_PAGE = "https://www.apple.com/support/systemstatus/"
TITLE_MAX = 200
LINK_MAX = 500

_LINE_BREAKS = re.compile("\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# C0/C1 controls and DEL, plus bidi embeddings, overrides, isolates and marks (they can make
# a reader see text in another order than it is, "Trojan Source" style) and the BOM.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_BLANK_RUNS = re.compile(r"\n{3,}")
# Slack (and Discord) read <!channel>, <!here>, <@U123>, <#C123>, <!subteam^ID> as pings;
# apprise's Slack code even tolerates blanks after the "<". The closing ">" goes too: in
# Markdown passthrough, apprise's Slack plugin rebuilds "<@U123>" from a bare "@U123>".
_ANGLE_PING_PAIR = re.compile(r"<([ \t]*[!@#][^<>\n]*)>")
_ANGLE_PING = re.compile(r"<(?=[ \t]*[!@#])")
# Bare @channel/@here/@everyone ping with Slack's link_names and on Discord, @room on
# Matrix; apprise's Slack Markdown passthrough turns "!here>" into "<!here>".
_WORD_PING = re.compile(r"[@!](?=(?:channel|here|everyone|room|subteam)\b)", re.IGNORECASE)
_ZWSP = "\u200b"


def neutralise(text: str, *, max_len: int) -> str:
    """Make feed text safe for a plain-text body: line breaks kept, controls dropped,
    pings defanged, length capped at `max_len` characters (with "…")."""
    return cap(_defang(clean(text, one_line=False)), max_len)


def neutralise_title(text: str, *, max_len: int = TITLE_MAX) -> str:
    """Like `neutralise`, but on one line: every line break or run of blanks becomes one
    space, so the text cannot start a new email header or Slack line."""
    return cap(_defang(clean(text, one_line=True)), max_len)


def clean(text: str, *, one_line: bool) -> str:
    text = _LINE_BREAKS.sub(" " if one_line else "\n", text).replace("\t", " ")
    text = _INVISIBLE.sub("", text)
    if one_line:
        return " ".join(text.split())
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _defang(text: str) -> str:
    text = _ANGLE_PING_PAIR.sub(r"‹\1›", text)
    text = _ANGLE_PING.sub("‹", text)
    return _WORD_PING.sub(lambda match: match.group(0) + _ZWSP, text)


def cap(text: str, max_len: int) -> str:
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, not {max_len}")
    if len(text) <= max_len:
        return text
    return text[: max_len - 1].rstrip() + "…"


def safe_link(url: str | None) -> str | None:
    """A feed-supplied link, only if it plainly points at apple.com.

    The feed is untrusted and people click these links, so anything else (another host,
    javascript:, credentials in the URL, blanks) is dropped in favour of the status page.
    """
    if not url:
        return None
    url = url.strip()
    if len(url) > LINK_MAX or not re.fullmatch(r"https?://[^\s<>\"'`\\^{}|\x00-\x1f\x7f]+", url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return None
    if "@" in parts.netloc or not (host == "apple.com" or host.endswith(".apple.com")):
        return None
    return url


def status_page_or_default(status_page: str | None) -> str:
    # Configured by the operator, so trusted, but still kept to one clean line.
    cleaned = clean(status_page or "", one_line=True)
    return cleaned[:LINK_MAX] if cleaned else APPLE_STATUS_PAGE
