"""Validated settings read back from settings_cache.py, and the logic they share with config.py.

config.py (pydantic-settings) stays the one place where settings are defined and
validated. When `statuswatch check` finds a cache entry made from the same inputs, it
gets these plain objects instead: the same attribute names and values, the same
methods, and no pydantic import. The methods' logic lives here as functions, and the
pydantic models call the same functions, so the two kinds of objects cannot drift apart.
Code that needs the real models (delivery) asks `full_settings()`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from statuswatch.errors import ConfigError

# -- logic shared with config.py ---------------------------------------------------------


def source_watched(services: Iterable[str]) -> list[str] | None:
    """A source's configured names, or None when it watches every service (`*`)."""
    names = list(services)
    return None if "*" in names else [name.strip() for name in names]


#: Only sent to subscribers who list it in `kinds` (DESIGN §4, README "delivery_failed").
OPT_IN_KIND = "delivery_failed"


def subscriber_wants(
    kinds: Iterable[str] | None, services: Iterable[str] | None, kind: str, service: str | None
) -> bool:
    if kinds is None:
        if kind == OPT_IN_KIND:
            return False  # "every kind" means every kind about the services watched
    elif kind not in kinds:
        return False
    if service is None or services is None:
        return True
    return service.casefold() in {name.strip().casefold() for name in services}


#: The longest duration any setting takes (a year): beyond it `check` and `run` would
#: overflow their clocks or wait for ever, so the config is refused at load instead.
MAX_DURATION = 366 * 86400.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> float:
    """`"30s"`, `"10m"`, `"1h30m"`, `"24h"`, `"2d"`, or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration such as '30s', '10m' or '24h' is needed, not true/false")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and _DURATION.sub("", text) == "":
            seconds = sum(
                float(number) * _UNIT_SECONDS[unit.lower()]
                for number, unit in _DURATION.findall(text)
            )
        else:
            raise ValueError(
                f"{value!r} is not a duration; write it like '30s', '10m', '1h30m' or '24h'"
            )
    else:
        raise ValueError("a duration such as '30s', '10m' or '24h' is needed")
    if math.isnan(seconds):
        raise ValueError("nan is not a duration; write it like '30s', '10m' or '24h'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION:
        raise ValueError("a duration can be at most 366d; write it like '30s', '10m' or '24h'")
    return seconds


def format_duration(seconds: float) -> str:
    """The inverse of parse_duration, as a person writes it: 1800 -> "30m", 5400 -> "1h30m"."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return str(seconds)
    whole = int(seconds)
    if whole != seconds or whole == 0:
        return f"{seconds:g}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def check_database(database: str | None, database_file: str | None) -> None:
    """Raise ValueError (pydantic turns it into a ConfigError) for a wrong `database`."""
    if database is not None and database_file is not None:
        raise ValueError("set either database or database_file, not both")
    if database is None:
        return
    if not re.match(r"^postgres(ql)?://", database.strip()):
        # Never echo the value: it may be a DSN with a password in an unexpected form.
        raise ValueError(
            "database must be a PostgreSQL URL such as "
            "postgresql://USER:PASSWORD@HOST:5432/DBNAME (leave it out to use SQLite)"
        )


def database_file_path(database_file: str) -> Path:
    """`database_file` with `${VAR}` and `~` expanded."""
    path = Path(os.path.expandvars(database_file)).expanduser()
    if "$" in str(path):
        raise ConfigError(
            f"database_file {database_file!r} names a variable that is not set "
            "(under systemd, LoadCredential= sets CREDENTIALS_DIRECTORY; from a shell, pass "
            "--credentials-dir DIR)"
        )
    return path


def database_dsn(database: str | None, database_file: str | None) -> str | None:
    """The PostgreSQL DSN from `database` or the file `database_file` names (None: SQLite)."""
    if database is not None:
        return database.strip()
    if database_file is None:
        return None
    path = database_file_path(database_file)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(
            f"cannot read database_file {path}: {error.strerror}; it must hold the "
            "PostgreSQL DSN (postgresql://USER:PASSWORD@HOST/DBNAME)"
        ) from None
    try:
        check_database(text, None)
    except ValueError as error:
        raise ConfigError(f"database_file {path}: {error}") from None
    return text


# -- the light objects -------------------------------------------------------------------


class Section:
    """One validated section (a model of config.py), read-only, from its cached values."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"settings are read-only ({name})")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(sorted(self.__dict__))})"


class SourceView(Section):
    services: list[str]

    @property
    def watches_all(self) -> bool:
        return "*" in self.services

    @property
    def watched(self) -> list[str] | None:
        return source_watched(self.services)


class SubscriberView(Section):
    kinds: list[str] | None
    services: list[str] | None

    def __repr__(self) -> str:  # never the URLs
        return f"SubscriberView(name={self.__dict__.get('name')!r})"

    def wants(self, kind: str, service: str | None) -> bool:
        return subscriber_wants(self.kinds, self.services, kind, service)


class HttpView(Section):
    listen: str

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]


class SettingsView(Section):
    """Stands in for config.Settings; `full_settings()` turns it into the real thing."""

    interval: float
    database: str | None
    database_file: str | None

    def __repr__(self) -> str:
        return "SettingsView(...)"

    def source_interval(self, source: Any) -> float:
        return source.interval if source.interval is not None else self.interval

    def database_dsn(self) -> str | None:
        return database_dsn(self.database, self.database_file)


VIEWS: dict[str, type[Section]] = {
    "Settings": SettingsView,
    "SourceConfig": SourceView,
    "SubscriberConfig": SubscriberView,
    "HttpConfig": HttpView,
}


def with_loader(view: SettingsView, loader: Callable[[], Any]) -> SettingsView:
    """Tell a view how to load the real settings it stands for (see full_settings)."""
    object.__setattr__(view, "_reload", loader)
    return view


def full_settings(settings: Any) -> Any:
    """The real, pydantic-validated Settings (loaded now, once, if `settings` is a view)."""
    if not isinstance(settings, SettingsView):
        return settings
    real = settings.__dict__["_reload"]()
    object.__setattr__(settings, "_reload", lambda: real)
    return real
