"""Logging to stderr, shaped for whoever reads it: a terminal, a file, or the systemd journal.

Under systemd, stderr is a stream into journald, which stamps every line with its own time and
reads a leading ``<N>`` (a syslog priority, see sd-daemon(3)) as that line's level. So in that
case records carry no timestamp and every line starts with its priority; everywhere else a
record reads ``2026-11-26 12:00:00 WARNING statuswatch: message``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

__all__ = ["LEVELS", "configure_logging", "journal_stream_matches", "parse_level"]

#: Accepted level names, least to most severe.
LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

ENV_LEVEL = "STATUSWATCH_LOG_LEVEL"

# These log every request URL at INFO (httpx) or DEBUG (httpcore, urllib3 under apprise's
# requests-based plugins). Webhook URLs carry tokens, and DESIGN §4 says secrets never reach
# the logs, so they stay at WARNING whatever level the user asks for.
_NOISY_LOGGERS = ("httpx", "httpcore", "urllib3")

# Marks the handler we install, so calling configure_logging() again (tests, a config reload)
# replaces it instead of stacking a second one that would print every line twice.
_HANDLER_ATTR = "_statuswatch_handler"


def parse_level(name: str, *, source: str = "log level") -> int:
    """Map a level name (any case, ``warn`` accepted) to its ``logging`` number.

    Raises ValueError with a sentence a user can act on, naming where the bad value came from.
    """
    key = name.strip().lower()
    if key == "warn":
        key = "warning"
    if key not in LEVELS:
        valid = ", ".join(LEVELS)
        raise ValueError(f"{source} {name!r} is not a log level; use one of: {valid}.")
    return LEVELS[key]


def journal_stream_matches(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is the journal stream systemd announced in ``$JOURNAL_STREAM``.

    systemd.exec(5): ``$JOURNAL_STREAM`` holds the device and inode numbers ("dev:ino", in
    decimal) of the stream connected to journald. Comparing them with the stream's fstat()
    tells a real journal connection from an inherited variable after a redirect
    (``statuswatch check 2>log`` in an ExecStart= shell line, say).
    """
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep:
        return False
    try:
        st = os.fstat(stream.fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (AttributeError, OSError, ValueError):
        # StringIO and friends have no fileno() (io.UnsupportedOperation is an OSError).
        return False


def _syslog_priority(levelno: int) -> int:
    """Syslog priority for a logging level; custom levels fall to the next standard one below."""
    if levelno >= logging.CRITICAL:
        return 2  # crit
    if levelno >= logging.ERROR:
        return 3  # err
    if levelno >= logging.WARNING:
        return 4  # warning
    if levelno >= logging.INFO:
        return 6  # info
    return 7  # debug


class JournalFormatter(logging.Formatter):
    """``<N>logger: message``, with ``<N>`` repeated on every line.

    journald splits a stream at newlines and parses the prefix of each line on its own, so a
    traceback or multi-line message must carry the prefix on every line or its tail would be
    logged at the unit's default level (info) and escape ``journalctl -p err``.
    """

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_syslog_priority(record.levelno)}>"
        text = super().format(record)
        return "\n".join(prefix + line for line in text.splitlines() or [""])


class _AppriseAtDebug(logging.Filter):
    """Apprise's own lines (an invalid token, a failed POST) are shown at debug level only:
    statuswatch reports each failed delivery as one line of its own that carries apprise's
    reason (notify/deliver.py), so the same failure is not printed three times."""

    def __init__(self, levelno: int) -> None:
        super().__init__()
        self.levelno = levelno

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("apprise"):
            return True
        if record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self.levelno <= logging.DEBUG


def _plain_formatter() -> logging.Formatter:
    return logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%Y-%m-%d %H:%M:%S"
    )


def configure_logging(level: str | None = None, stream: TextIO | None = None) -> None:
    """Send all logging to ``stream`` (default: the current ``sys.stderr``) at ``level``.

    ``level`` wins when given (e.g. ``--log-level``); otherwise ``$STATUSWATCH_LOG_LEVEL``;
    otherwise ``info``. A bad name raises ValueError before anything is changed. Safe to call
    again: the previous statuswatch handler is replaced.
    """
    if level is not None:
        levelno = parse_level(level, source="log level")
    elif os.environ.get(ENV_LEVEL, "").strip():
        levelno = parse_level(os.environ[ENV_LEVEL], source=ENV_LEVEL)
    else:
        levelno = logging.INFO

    # Resolved at call time, not as a default argument, so a replaced sys.stderr (pytest's
    # capture, a redirect) is honoured.
    out = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(out)
    handler.setFormatter(JournalFormatter() if journal_stream_matches(out) else _plain_formatter())
    setattr(handler, _HANDLER_ATTR, True)
    handler.addFilter(_AppriseAtDebug(levelno))

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_ATTR, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(levelno)

    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(levelno, logging.WARNING))
    # Python warnings (deprecations from a dependency, say) then carry a level in the journal.
    logging.captureWarnings(True)
