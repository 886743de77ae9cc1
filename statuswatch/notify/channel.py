"""One apprise call for one target (one URL). The only module that imports apprise
besides notify/targets.py (which reads apprise config files).

The reason of a failure is what apprise or the server said (a 535 from an SMTP server,
a 403 from a webhook), with every secret removed; apprise's own log lines are kept at
debug level (logsetup.py) so one failure prints one line, ours.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from statuswatch.errors import ConfigError
from statuswatch.model import Kind
from statuswatch.notify.targets import Target
from statuswatch.secrets import Redactor, mask_url

if TYPE_CHECKING:
    import apprise

    from statuswatch.notify.render import Message

REASON_MAX = 300


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    error: str | None = None
    seconds: float = 0.0


def notify_type(kind: str) -> str:
    import apprise

    if kind in (Kind.RECOVERED, Kind.SOURCE_UP):
        return apprise.NotifyType.SUCCESS
    if kind in (Kind.OUTAGE, Kind.DELIVERY_FAILED):
        return apprise.NotifyType.FAILURE
    if kind == Kind.SCHEDULED:
        return apprise.NotifyType.INFO
    return apprise.NotifyType.WARNING


def build_apprise(target: Target, subscriber: str) -> apprise.Apprise:
    """An Apprise object for one URL; ConfigError (masked URL only) if apprise refuses it."""
    import apprise

    instance = apprise.Apprise()
    if not instance.add(target.url):
        raise ConfigError(
            f"subscriber {subscriber!r}: apprise cannot use the URL {mask_url(target.url)} "
            "(check the scheme and its parts against apprise's documentation)"
        )
    return instance


class _Collect(logging.Handler):
    """Apprise's log lines during one call: the server's own words are often only in its
    debug lines (an SMTP `535 authentication failed` is)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a record that cannot format tells nothing
            self.lines.append((record.levelno, record.getMessage()))


async def send(
    instance: apprise.Apprise,
    message: Message,
    kind: str,
    timeout: float,
    redactor: Redactor,
) -> SendResult:
    """One apprise call; the error, if any, is the server's or apprise's reason, redacted."""
    import apprise

    started = time.monotonic()
    collect = _Collect()
    logger = logging.getLogger("apprise")
    logger.addHandler(collect)
    before = logger.level
    logger.setLevel(logging.DEBUG)  # shown at debug only (logsetup.py): collected here
    try:
        result = await instance.async_notify(
            body=message.body,
            title=message.title,
            notify_type=notify_type(kind),
            body_format=apprise.NotifyFormat.TEXT,
            tag=apprise.common.MATCH_ALL_TAG,
            timeout=timeout,
        )
    except Exception as error:  # a plugin bug must not take the daemon down
        return SendResult(
            False, _clean(redactor, f"{type(error).__name__}: {error}"), _since(started)
        )
    finally:
        logger.removeHandler(collect)
        logger.setLevel(before)
    if result:
        return SendResult(True, None, _since(started))
    return SendResult(
        False, _clean(redactor, failure_reason(result, collect.lines)), _since(started)
    )


def _since(started: float) -> float:
    return time.monotonic() - started


def _clean(redactor: Redactor, text: str) -> str:
    return " ".join(redactor(text).split())[:REASON_MAX]


# The debug lines that carry a server's answer (apprise's email, HTTP and socket plugins):
# "Socket Exception: (535, b'5.7.8 Authentication credentials invalid')", "Response
# Details: …". Lines that echo what was sent ("JSON Payload: …") are not reasons.
_REASON_HINTS = ("exception", "response details", "reason", "refused", "denied", "status code")
_NOT_REASONS = ("payload", "email ", "json post", "http post", "notify", "loaded", "sending")


def failure_reason(result: Any, lines: list[tuple[int, str]]) -> str:
    """apprise's complaint (warning and above) and the server's words, once each."""
    complaints: list[str] = []
    with contextlib.suppress(Exception):  # older result objects carry no logs
        complaints = [
            entry.message
            for entry in result.logs()
            if getattr(entry, "level", "") in ("WARNING", "ERROR", "CRITICAL")
        ]
    complaints += [text for level, text in lines if level >= logging.WARNING]
    details = [
        text
        for level, text in lines
        if level < logging.WARNING
        and any(hint in text.lower() for hint in _REASON_HINTS)
        and not any(word in text.lower() for word in _NOT_REASONS)
    ]
    complaints += details[-2:]
    if complaints:
        return " / ".join(dict.fromkeys(c.strip() for c in complaints if c.strip()))
    status = getattr(result, "status", None)
    return f"the channel did not accept the message ({getattr(status, 'name', 'failed')})"
