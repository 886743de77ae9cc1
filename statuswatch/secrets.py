"""Keeping apprise URLs secret (DESIGN §4): they carry tokens and passwords.

Raw URLs live only in memory. Anything shown, logged or stored uses a masked form:
apprise's own privacy form where apprise is loaded (notify/deliver.py), else
`mask_url()` here, which needs no import of apprise. `Redactor` scrubs any fragment of
a secret that a third-party error message might echo back.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

_HOSTLIKE = re.compile(r"^(localhost|[\d.]+|\[[0-9a-f:]+\]|[a-z0-9-]+(\.[a-z0-9-]+)+)$", re.I)
# Query keys whose values are addresses or options, not credentials.
_PLAIN_QUERY_KEYS = frozenset(
    {"to", "from", "cc", "bcc", "mode", "format", "overflow", "name", "smtp", "port", "footer"}
)


def mask_url(url: str) -> str:
    """`scheme://user:****@host/****` — never the password, tokens, path or secret query."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "<unparseable URL>"
    scheme = parts.scheme or "?"
    try:
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        host, port = "", None
    if host and not _HOSTLIKE.match(host):
        host = f"{host[:2]}****"  # slack://TokenA/... puts a token where a host would be
    netloc = host + (f":{port}" if port else "")
    if parts.username:
        # With a password the user is a login name; without one it is often the token
        # itself (pover://USERKEY@TOKEN, json://token@host): then only a hint is kept.
        netloc = (
            f"{_mask_word(parts.username)}:****@{netloc}"
            if parts.password
            else f"{parts.username[:2]}****@{netloc}"
        )
    path = "/****" if parts.path.strip("/") else ""
    query = "&".join(
        f"{key}={value if key.lower() in _PLAIN_QUERY_KEYS else '****'}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def mask_dsn(dsn: str) -> str:
    """A PostgreSQL URL with its password (and any password= option) replaced by ****;
    host, port, database and user stay visible, since they say where the state lives."""
    try:
        parts = urlsplit(dsn.strip())
        port = parts.port
    except ValueError:
        return "<unparseable DSN>"
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if port:
        netloc += f":{port}"
    if parts.username:
        netloc = f"{parts.username}{':****' if parts.password is not None else ''}@{netloc}"
    query = "&".join(
        f"{key}={'****' if key.lower() in ('password', 'passfile', 'sslpassword') else value}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def dsn_secrets(dsn: str) -> set[str]:
    """What of a DSN must never be printed: the whole string and its password."""
    fragments = {dsn.strip()}
    try:
        parts = urlsplit(dsn.strip())
    except ValueError:
        return fragments
    if parts.password:
        fragments.update({parts.password, unquote(parts.password)})
    for key, value in parse_qsl(parts.query):
        if key.lower() in ("password", "sslpassword") and value:
            fragments.add(value)
    return {fragment for fragment in fragments if len(fragment) >= 3}


def _mask_word(word: str) -> str:
    """A user name may itself be a token (e.g. json://token@host): keep only a hint."""
    return word if len(word) <= 12 and "." not in word else f"{word[:2]}****"


def secret_fragments(url: str) -> set[str]:
    """Pieces of a URL that may be secret and must never be printed on their own."""
    return set(_fragments_of(url))


@functools.lru_cache(maxsize=65536)
def _fragments_of(url: str) -> frozenset[str]:
    # Cached: a fan-out builds a Redactor over every target for the CLI's log filter, the
    # Deliverer and apprise's log (10,000 subscribers: 30,000 URL parses otherwise).
    fragments: set[str] = set()
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return frozenset({url})
    fragments.add(url.strip())
    if parts.password:
        fragments.update({parts.password, unquote(parts.password)})
    if parts.username and (len(parts.username) > 12 or not parts.password):
        fragments.update({parts.username, unquote(parts.username)})
    netloc = parts.netloc.rpartition("@")[2]
    try:
        parts.port  # noqa: B018 - raises for `tgram://123456:TOKEN/`: the "port" is a token
    except ValueError:
        fragments.update({netloc, *netloc.split(":")})
    host = parts.hostname or ""
    if host and not _HOSTLIKE.match(host):
        # `hostname` is lower-cased; the token is echoed back as written (slack://TokenA/…).
        fragments.update({host, parts.netloc.rpartition("@")[2].split(":")[0]})
    for segment in parts.path.split("/"):
        if len(segment) >= 6:
            fragments.update({segment, unquote(segment)})
    for key, value in parse_qsl(parts.query):
        if key.lower() not in _PLAIN_QUERY_KEYS and len(value) >= 4:
            fragments.add(value)
    return frozenset(fragment for fragment in fragments if len(fragment) >= 4)


#: Every fragment from a URL is at least this long (secret_fragments() drops shorter ones).
_KEY = 4


class Redactor:
    """Replaces every known secret fragment in a text with ****.

    Each fragment is filed under its first or its last four characters, whichever fewer
    fragments share (10,000 webhook URLs share their first ones, not their last), and a
    text is read once, four characters at a time: looking for every fragment in turn
    cost 0.6 ms a line with 10,000 subscribers, and the daemon's log filter does it for
    every line it writes (one per message sent)."""

    def __init__(self, urls: Iterable[str] = (), *, fragments_too: Iterable[str] = ()) -> None:
        self._fragments: list[str] = []
        self._heads: dict[str, list[str]] = {}
        self._tails: dict[str, list[str]] = {}
        self._short: list[str] = []
        self.add(urls, fragments_too=fragments_too)

    def add(self, urls: Iterable[str], *, fragments_too: Iterable[str] = ()) -> None:
        fragments = set(self._fragments) | set(fragments_too)
        for url in urls:
            fragments |= _fragments_of(url)
        # Longest first, so a whole URL is replaced before its parts.
        self._fragments = sorted(fragments, key=len, reverse=True)
        long = [f for f in self._fragments if len(f) >= _KEY]
        self._short = [f for f in self._fragments if len(f) < _KEY]  # from fragments_too
        heads = Counter(f[:_KEY] for f in long)
        tails = Counter(f[-_KEY:] for f in long)
        self._heads, self._tails = {}, {}
        for fragment in long:
            head, tail = fragment[:_KEY], fragment[-_KEY:]
            if heads[head] <= tails[tail]:
                self._heads.setdefault(head, []).append(fragment)
            else:
                self._tails.setdefault(tail, []).append(fragment)

    def __call__(self, text: str) -> str:
        found = set()
        heads, tails = self._heads, self._tails
        for start in range(len(text) - _KEY + 1):
            key = text[start : start + _KEY]
            for fragment in heads.get(key, ()):
                if text.startswith(fragment, start):
                    found.add(fragment)
            for fragment in tails.get(key, ()):
                if text.startswith(fragment, start + _KEY - len(fragment)):
                    found.add(fragment)
        found.update(fragment for fragment in self._short if fragment in text)
        for fragment in sorted(found, key=len, reverse=True):
            text = text.replace(fragment, "****")
        return text


class RedactingFilter(logging.Filter):
    """Last line of defence: scrubs secrets from every log record that passes a handler."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self.urls: set[str] = set()  # added by redact_logs(): each is added once

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redactor(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redactor(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def redact_logs(urls: Iterable[str]) -> None:
    """Make every handler of the root logger scrub these URLs too.

    The CLI installs a RedactingFilter for the URLs written in the config at start-up; the
    URLs read later from a `urls_file` are added here by whoever is about to hand them to
    apprise (whose debug log prints the URLs it loads and posts to).
    """
    urls = [url for url in urls if url]
    if not urls:
        return
    for handler in logging.getLogger().handlers:
        filters = [f for f in handler.filters if isinstance(f, RedactingFilter)]
        if not filters:
            added = RedactingFilter(Redactor(urls))
            added.urls.update(urls)
            handler.addFilter(added)
        for existing in filters:
            # Every delivery round names every target again (10,000 in a fan-out): merge
            # only the ones this filter has not seen.
            new = [url for url in urls if url not in existing.urls]
            if new:
                existing.redactor.add(new)
                existing.urls.update(new)


def redact_dsn(dsn: str) -> None:
    """Make every handler of the root logger scrub this DSN's password (see redact_logs)."""
    fragments = dsn_secrets(dsn)
    for handler in logging.getLogger().handlers:
        filters = [f for f in handler.filters if isinstance(f, RedactingFilter)]
        if not filters:
            handler.addFilter(RedactingFilter(Redactor(fragments_too=fragments)))
        for existing in filters:
            existing.redactor.add((), fragments_too=fragments)
