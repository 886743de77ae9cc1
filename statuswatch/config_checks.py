"""Checks of single config values that `check` or `run` would otherwise trip on later
(issue 10, item 8): each raises ValueError with a sentence, inside the pydantic models,
so a config that loads is one `check` and `run` can use (and the settings cache stays
valid). No I/O here.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from statuswatch.secrets import mask_url

#: Longest path a setting may name (Linux PATH_MAX), and longest part of one (NAME_MAX).
MAX_PATH, MAX_NAME = 4096, 255


def check_path(value: Any) -> Any:
    """A path the OS could open at all (a 5,000-character one makes every open() fail)."""
    if value is None:
        return None
    text = str(value)
    if "\0" in text:
        raise ValueError("a path cannot contain a NUL character")
    if len(text) > MAX_PATH or any(len(part) > MAX_NAME for part in text.split("/")):
        raise ValueError(
            f"this path is too long ({len(text)} characters; at most {MAX_PATH}, "
            f"and {MAX_NAME} per folder name); point it at the real file"
        )
    return value


def check_url(url: str) -> str:
    """An http(s) URL httpx can request: a host, and a port of ASCII digits 1-65535 (a
    non-ASCII digit passes int() but makes every fetch fail)."""
    match = re.match(r"^https?://([^/?#]*)", url)
    if match is None:
        raise ValueError(f"url must start with http:// or https://, got {mask_url(url)}")
    netloc = match.group(1).rpartition("@")[2]
    host, port = netloc, None
    if netloc.startswith("["):
        host, _, rest = netloc.partition("]")
        port = rest[1:] if rest.startswith(":") else None
        if rest and not rest.startswith(":"):
            raise ValueError(f"url {mask_url(url)} has a malformed [IPv6] host")
    elif ":" in netloc:
        host, _, port = netloc.rpartition(":")
    if not host.strip("[]"):
        raise ValueError(f"url {mask_url(url)} has no host name")
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(
            f"url {mask_url(url)} has port {port!r}; a port is a number from 1 to 65535 "
            "written in ASCII digits"
        )
    if not url.isascii() and not host.isascii():
        try:
            host.encode("idna")
        except UnicodeError:
            raise ValueError(f"url {mask_url(url)} has a host name that is not valid") from None
    return url


def lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


def check_mail_url(subscriber: str, url: str) -> None:
    """mailto(s)://…?to=…: apprise only warns about an address it cannot use and then
    sends nothing; refuse it here, without showing the URL (it may hold a password)."""
    from urllib.parse import parse_qs, urlsplit

    if not url.lower().startswith(("mailto://", "mailtos://")):
        return
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return
    for name in ("to", "cc", "bcc"):
        for value in query.get(name, []):
            for address in re.split(r"[\s,;]+", value.strip()):
                if address and not _EMAIL.match(address):
                    raise ValueError(
                        f"subscriber {subscriber!r}: {name}={address!r} in its mailto URL is "
                        "not an email address; write it like to=me@example.com"
                    )


def check_subscribed_services(sources: Sequence[Any], subscribers: Sequence[Any]) -> None:
    """A subscriber's `services` must be watched by some source, or it hears nothing."""
    if any(source.watches_all for source in sources):
        return
    watched = {name.strip().casefold(): name for s in sources for name in s.services}
    for index, subscriber in enumerate(subscribers):
        for name in subscriber.services or []:
            if name.strip().casefold() in watched:
                continue
            close = difflib.get_close_matches(name.casefold(), list(watched), n=1)
            hint = f"did you mean {watched[close[0]]!r}? " if close else ""
            raise ValueError(
                f"subscribers[{index}].services: {name!r} is not watched by any source, so "
                f"{subscriber.name!r} would never hear of it; {hint}add it to a source's "
                "services or remove it"
            )


def env_origin(error: ValidationError) -> str | None:
    """The STATUSWATCH_* variable that set the key pydantic refused, if one did: the
    environment wins over the file, so the file is not to blame then."""
    problems = error.errors(include_url=False)
    if not problems or not problems[0]["loc"]:
        return None
    location = [str(part) for part in problems[0]["loc"] if not isinstance(part, int)]
    for depth in range(len(location), 0, -1):
        wanted = "STATUSWATCH_" + "__".join(location[:depth]).upper()
        for name in os.environ:
            if name.upper() == wanted:
                return name
    return None
