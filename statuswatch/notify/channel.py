"""One apprise call for one target (one URL). The only module that imports apprise
besides notify/targets.py (which reads apprise config files).

The reason of a failure is what apprise or the server said (a 535 from an SMTP server,
a 403 from a webhook), with every secret removed; apprise's own log lines are kept at
debug level (logsetup.py) so one failure prints one line, ours.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
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


@functools.cache
def _prototype() -> apprise.Apprise:
    """An empty Apprise object whose copies share its asset and locale. `Apprise()` looks
    up its gettext catalogue on disk each time (a dozen stat() calls, each a wait for the
    GIL while sender threads run): a third of a 10,000-target fan-out's CPU. A copy
    goes through apprise's own pickle state (asset, locale, no services)."""
    import apprise

    return apprise.Apprise()


def build_apprise(target: Target, subscriber: str) -> apprise.Apprise:
    """An Apprise object for one URL; ConfigError (masked URL only) if apprise refuses it."""
    instance = copy.copy(_prototype())
    if not instance.add(target.url):
        raise ConfigError(
            f"subscriber {subscriber!r}: apprise cannot use the URL {mask_url(target.url)} "
            "(check the scheme and its parts against apprise's documentation)"
        )
    return instance


class _Collect:
    """Apprise's log lines during one call: the server's own words are often only in its
    debug lines (an SMTP `535 authentication failed` is)."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []


#: The collector of the send running in this context. apprise runs a plugin's send() in a
#: worker thread with a copy of the caller's context, so its lines find their own send.
_CURRENT: contextvars.ContextVar[_Collect | None] = contextvars.ContextVar(
    "statuswatch_apprise_collect", default=None
)


class _Dispatch(logging.Handler):
    """One handler on apprise's logger for all concurrent sends. A handler per send made
    every record of every send visit every other send's handler (64 at a time in a
    fan-out: most of its CPU), and gave a send the other sends' lines as its reason."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)

    def handle(self, record: logging.LogRecord) -> bool:  # no lock: a list append
        collect = _CURRENT.get()
        if collect is not None:
            with contextlib.suppress(Exception):  # a record that cannot format tells nothing
                collect.lines.append((record.levelno, record.getMessage()))
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


class _Listening:
    """apprise's logger at DEBUG with the dispatcher attached while any send runs, and
    its own level back once the last one ends (sends overlap: each restoring what it saw
    left the logger at DEBUG after a fan-out)."""

    def __init__(self) -> None:
        self.active = 0
        self.before = logging.NOTSET
        self.handler = _Dispatch()

    def __enter__(self) -> None:
        if self.active == 0:
            logger = logging.getLogger("apprise")
            self.before = logger.level
            logger.addHandler(self.handler)
            logger.setLevel(logging.DEBUG)  # shown at debug only (logsetup.py)
        self.active += 1

    def __exit__(self, *_: object) -> None:
        self.active -= 1
        if self.active == 0:
            logger = logging.getLogger("apprise")
            logger.removeHandler(self.handler)
            logger.setLevel(self.before)


_LISTENING = _Listening()


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
    token = _CURRENT.set(collect)
    try:
        with _LISTENING:
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
        _CURRENT.reset(token)
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
