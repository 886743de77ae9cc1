"""What every `statuswatch` command shares: the exit codes (DESIGN §9), finding and loading
the config, opening the store, and printing. cli.py and the command modules beside it
(cli_check.py, cli_status.py, cli_history.py, cli_outbox.py, cli_config.py, cli_store.py,
cli_services.py, cli_policy.py) import from here, never from each other."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from statuswatch.config import Settings
    from statuswatch.store import Store

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69  # a feed could not be fetched or parsed
EXIT_SOFTWARE = 70  # a bug in statuswatch
EXIT_CANTCREAT = 73  # the state directory or database cannot be written
EXIT_TEMPFAIL = 75  # try again later: lock busy, deliveries pending
EXIT_CONFIG = 78  # configuration error
EXIT_GIVEN_UP = 79  # a notification was given up (dead) and nobody retried or dropped it
EXIT_PIPE = 141  # the reader of our output went away, as a tool killed by SIGPIPE (128 + 13)


class UsageError(Exception):
    """A command was used wrongly: exit 2 with its message."""


def load(
    args: argparse.Namespace, cache: list[Any] | None = None, *, aside: bool = False
) -> Settings:
    """Find and read the config; install the secret redactor on every log handler.

    With `cache` (a list, for `check`), validated settings are reused from the state
    directory when nothing they depend on changed (settings_cache.py); the lookup is
    appended to `cache` so that the caller can save them after a miss. With `aside`
    (the daemon), a miss is validated in a child process, so that pydantic never stays
    in the daemon's memory.
    """
    from statuswatch.configfile import find_config_file

    overrides: dict[str, Any] = {}
    if args.state_dir:
        overrides["state_dir"] = Path(args.state_dir)
    path = find_config_file(args.config)

    def validate() -> Settings:
        from statuswatch.config import load_settings

        return load_settings(path, **overrides)

    settings: Any = None
    if aside:
        from statuswatch.settings_cache import load_aside

        settings = load_aside(path, overrides, validate)
    elif cache is not None:
        from statuswatch import settings_cache
        from statuswatch.settings_view import with_loader

        found = settings_cache.lookup(path, overrides)
        cache.append(found)
        if found.settings is not None:
            settings = with_loader(found.settings, validate)
    if settings is None:
        settings = validate()
    _install_redactor(settings)
    if args.log_level is None and not args.debug and settings.log_level is not None:
        logging.getLogger().setLevel(settings.log_level.upper())
    return settings


def _install_redactor(settings: Settings) -> None:
    from statuswatch.secrets import RedactingFilter, Redactor

    urls = [url for s in settings.subscribers for url in s.urls]
    heartbeat = getattr(settings, "heartbeat", None)
    if heartbeat is not None:
        urls += [url for url in (heartbeat.url, heartbeat.fail_url) if url]
    redactor = Redactor(urls)
    for handler in logging.getLogger().handlers:
        # Replace, not add: the daemon calls this again on every SIGHUP.
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingFilter(redactor))


def open_store(settings: Settings, *, readonly: bool = False) -> Store:
    """The configured store. `readonly` for commands that only read (DESIGN §5): they
    never change the database and work where this user cannot write."""
    dsn = settings.database_dsn()
    if dsn is not None:
        # Two machines (DESIGN §5): psycopg is imported only here, when configured.
        from statuswatch.secrets import redact_dsn
        from statuswatch.store.postgres import PostgresStore

        redact_dsn(dsn)
        return PostgresStore.open(dsn, readonly=readonly)
    from statuswatch.store import SqliteStore, default_state_dir

    state_dir = Path(settings.state_dir).expanduser() if settings.state_dir else default_state_dir()
    if not readonly:  # a reader creates nothing, so it has nothing to hand back
        OPENED_STATE_DIRS.append(state_dir)
    return SqliteStore.open(state_dir, readonly=readonly)


# State directories this process opened: a root shell hands what it created there back to
# the directory's owner (the systemd service's user) when the command ends.
OPENED_STATE_DIRS: list[Path] = []


def _hand_back_state_dirs() -> None:
    if OPENED_STATE_DIRS and os.geteuid() == 0:
        from statuswatch.store.ownership import hand_back

        for state_dir in OPENED_STATE_DIRS:
            hand_back(state_dir)


def emit(lines: Sequence[str], stream: Any = None) -> None:
    if lines:
        print("\n".join(lines), file=stream or sys.stdout)


def iso(moment: Any) -> str | None:
    """A time in the --json outputs: ISO-8601 UTC, or null."""
    from statuswatch.model import format_utc

    return None if moment is None else format_utc(moment)
