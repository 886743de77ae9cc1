"""Settings: a TOML file plus STATUSWATCH_* environment variables (pydantic-settings).

Defaults live next to their validation, in the models below; config.example.toml
documents every key. Any mistake becomes a ConfigError: one sentence naming the file,
the key and the fix (the CLI turns it into exit code 78).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from statuswatch.config_checks import (
    check_mail_url,
    check_path,
    check_subscribed_services,
    check_url,
    env_origin,
    lower,
)
from statuswatch.configfile import find_config_file
from statuswatch.errors import ConfigError
from statuswatch.model import Kind
from statuswatch.secrets import mask_url
from statuswatch.settings_view import (
    MAX_DURATION,
    check_database,
    database_dsn,
    parse_duration,
    source_watched,
    split_listen,
    subscriber_wants,
)

__all__ = [
    "MAX_DURATION",
    "ConfigError",
    "Settings",
    "find_config_file",
    "load_settings",
    "parse_duration",
    "split_listen",
]

APPLE_MIN_INTERVAL = 30.0
DEFAULT_SERVICE = "iCloud Backup"


Duration = Annotated[float, BeforeValidator(parse_duration)]
PathText = Annotated[str | None, AfterValidator(check_path)]
KINDS = tuple(kind.value for kind in Kind)


def _check_quiet_hours(value: str | None) -> str | None:
    """DESIGN §4a: "22:00-07:00" in the subscriber's zone; kept as text (it is cached)."""
    if value is None:
        return None
    from statuswatch.quiet import QuietWindow

    return str(QuietWindow.parse(value))


def _check_offsets(value: list[float] | None) -> list[float] | None:
    if value is None:
        return None
    if any(not 0 < offset <= 30 * 86400 for offset in value):
        raise ValueError("each offset must be more than 0s and at most 30d, e.g. ['24h', '1h']")
    return sorted(set(value), reverse=True)


def _check_repeat(value: float | None) -> float | None:
    if value is not None and not 60 <= value <= 30 * 86400:
        raise ValueError("repeat_every must be between 1m and 30d, e.g. '6h'")
    return value


QuietHours = Annotated[str | None, AfterValidator(_check_quiet_hours)]
Offsets = Annotated[list[Duration] | None, AfterValidator(_check_offsets)]
Repeat = Annotated[Duration | None, AfterValidator(_check_repeat)]
KindList = list[Literal[KINDS]]  # type: ignore[valid-type]


class SourceConfig(BaseModel):
    """One feed to poll (`[[sources]]`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "apple"
    kind: Literal["apple"] = "apple"
    feed: Literal["consumer", "developer"] = "consumer"
    locale: str = Field(default="en_US", pattern=r"^[a-z]{2,3}_[A-Z]{2}$")
    url: str | None = None
    services: list[str] = Field(default_factory=lambda: [DEFAULT_SERVICE], min_length=1)
    interval: Duration | None = None

    @model_validator(mode="after")
    def _check(self) -> SourceConfig:
        if not self.name.strip():
            raise ValueError("a source's name cannot be empty")
        if self.url is not None:
            check_url(self.url)
        if any(not name.strip() for name in self.services):
            raise ValueError("services cannot contain an empty name")
        if self.url is None and self.interval is not None and self.interval < APPLE_MIN_INTERVAL:
            raise ValueError(
                f"interval {self.interval:g}s is too short for Apple's servers; use 30s or more"
            )
        return self

    @property
    def watches_all(self) -> bool:
        return "*" in self.services

    @property
    def watched(self) -> list[str] | None:
        """The configured names, or None for every service in the feed."""
        return source_watched(self.services)


class SubscriberConfig(BaseModel):
    """Someone to tell (`[[subscribers]]`). URLs stay in memory only; see secrets.py."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    urls: list[str] = Field(default_factory=list, repr=False)
    urls_file: PathText = None
    apprise_config: PathText = None
    tags: list[str] = Field(default_factory=list)
    services: list[str] | None = None
    kinds: list[Literal[KINDS]] | None = None  # type: ignore[valid-type]
    timezone: str | None = None
    digest: bool | None = None
    title_template: str | None = None
    body_template: str | None = None
    # DESIGN §4a policies; None: the top-level setting of the same name.
    quiet_hours: QuietHours = None
    urgent: KindList | None = None
    remind_before: Offsets = None
    repeat_every: Repeat = None

    @model_validator(mode="after")
    def _check(self) -> SubscriberConfig:
        if not self.name.strip():
            raise ValueError("a subscriber's name cannot be empty")
        if not (self.urls or self.urls_file or self.apprise_config):
            raise ValueError(
                f"subscriber {self.name!r} has nowhere to send: "
                "set urls, urls_file or apprise_config"
            )
        for url in self.urls:
            if "://" not in url:
                raise ValueError(
                    f"subscriber {self.name!r}: {mask_url(url)!r} is not an apprise URL "
                    "(they look like slack://… or mailtos://…)"
                )
            check_mail_url(self.name, url)
        if self.timezone is not None:
            _check_timezone(self.timezone)
        for template in (self.title_template, self.body_template):
            if template is not None:
                from statuswatch.templates import validate_template

                validate_template(template)
        return self

    def wants(self, kind: str, service: str | None) -> bool:
        return subscriber_wants(self.kinds, self.services, kind, service)


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"timezone {name!r} is not an IANA zone name (e.g. 'Europe/Paris', 'UTC')"
        ) from None


def parse_listen(value: Any) -> str:
    """`"127.0.0.1:9120"`, `"[::1]:9120"`, `"0.0.0.0:9120"` or a bare port (loopback)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("listen must look like '127.0.0.1:9120'")
    text = value.strip()
    if text.isdigit():
        text = f"127.0.0.1:{text}"
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})", text)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise ValueError(
            f"listen {value!r} is not an address and port; write it like '127.0.0.1:9120'"
        )
    return text


class HttpConfig(BaseModel):
    """`[http]`: the read-only web surface of `statuswatch run` (DESIGN §8)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Loopback unless another address is written here on purpose.
    listen: Annotated[str, BeforeValidator(parse_listen)] = "127.0.0.1:9120"
    # A request (its head, from the first byte or the end of the previous answer) must
    # arrive within this; slower connections are closed.
    request_timeout: Duration = 10.0
    # How often the page asks the browser to reload itself.
    refresh: Duration = 60.0

    @model_validator(mode="after")
    def _check(self) -> HttpConfig:
        if not 0 < self.request_timeout <= 300:
            raise ValueError("request_timeout must be between 0s and 5m")
        if self.refresh < 5:
            raise ValueError("refresh must be 5s or more")
        return self

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]


def _check_ping_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://", value.strip()):
        raise ValueError(
            f"{mask_url(value)!r} is not an http:// or https:// URL "
            "(e.g. https://hc-ping.com/<your check's UUID>)"
        )
    return None if value is None else value.strip()


PingUrl = Annotated[str | None, AfterValidator(_check_ping_url)]


class HeartbeatConfig(BaseModel):
    """`[heartbeat]`: a dead-man's switch for statuswatch itself (DESIGN §4a)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Requested after every cycle in which every source answered (repr=False: these URLs
    # carry the check's secret token).
    url: PingUrl = Field(default=None, repr=False)
    # Requested instead after a cycle in which a source did not answer.
    fail_url: PingUrl = Field(default=None, repr=False)
    timeout: Duration = 10.0

    @model_validator(mode="after")
    def _check(self) -> HeartbeatConfig:
        if self.url is None and self.fail_url is None:
            raise ValueError("[heartbeat] needs url (and optionally fail_url)")
        if not 0 < self.timeout <= 60:
            raise ValueError("timeout must be between 0s and 1m")
        return self


class ExportConfig(BaseModel):
    """`[export]`: after each `check`, write the status page as static files here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: Path


_CONFIG_FILE: ContextVar[Path | None] = ContextVar("statuswatch_config_file", default=None)


class Settings(BaseSettings):
    """Every setting; see config.example.toml for what each means to a user."""

    model_config = SettingsConfigDict(
        env_prefix="STATUSWATCH_", extra="forbid", env_nested_delimiter="__"
    )

    state_dir: Path | None = None
    # At most 5 minutes: apprise and httpx pass it on, and an endless one hangs a cycle.
    timeout: Duration = Field(default=10.0, le=300)
    confirm: int = Field(default=1, ge=1, le=100)
    stale_after: Duration = 1800.0
    interval: Duration = Field(default=300.0, le=7 * 86400)
    give_up_after: Duration = Field(default=86400.0, ge=60, le=90 * 86400)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, le=1024**3)
    # How long `check` waits for another run's poll-cycle lock before exiting 75.
    lock_wait: Duration = Field(default=5.0, le=3600)
    # Extra attempts, within one poll, after a connection error or a 5xx (0.5-1.5 s, then
    # 1-3 s apart); the next poll retries anyway.
    fetch_retries: int = Field(default=2, ge=0, le=5)
    archive_dir: Path | None = None
    timezone: str = "UTC"
    digest: bool = True
    log_level: Annotated[
        Literal["debug", "info", "warning", "error"] | None, BeforeValidator(lower)
    ] = None
    sources: list[SourceConfig] = Field(default_factory=lambda: [SourceConfig()], min_length=1)
    subscribers: list[SubscriberConfig] = Field(default_factory=list)
    http: HttpConfig | None = None
    export: ExportConfig | None = None
    heartbeat: HeartbeatConfig | None = None
    # DESIGN §4a defaults for every subscriber that does not set its own.
    quiet_hours: QuietHours = None
    urgent: KindList = Field(default_factory=list)
    remind_before: Offsets = None
    repeat_every: Repeat = None
    # DESIGN §5 "Two machines": the store in PostgreSQL instead of SQLite (repr=False: the
    # DSN may hold a password).
    database: str | None = Field(default=None, repr=False)
    database_file: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Settings:
        _check_timezone(self.timezone)
        check_database(self.database, self.database_file)
        if self.timeout <= 0:
            raise ValueError("timeout must be more than 0s")
        _unique("sources", [source.name for source in self.sources])
        _unique("subscribers", [subscriber.name for subscriber in self.subscribers])
        if self.interval < APPLE_MIN_INTERVAL and any(s.url is None for s in self.sources):
            raise ValueError(
                f"interval {self.interval:g}s is too short for Apple's servers; use 30s or more"
            )
        check_subscribed_services(self.sources, self.subscribers)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _CONFIG_FILE.get()
        if path is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, path))

    def source_interval(self, source: SourceConfig) -> float:
        return source.interval if source.interval is not None else self.interval

    def database_dsn(self) -> str | None:
        """The PostgreSQL DSN from `database` or the file `database_file` names (None:
        SQLite). `${VAR}` in database_file is expanded, e.g. ${CREDENTIALS_DIRECTORY}."""
        return database_dsn(self.database, self.database_file)


def _unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"two {what} are named {name!r}; each needs its own name")
        seen.add(name)


def load_settings(path: Path | None, **overrides: Any) -> Settings:
    """Read `path` (None: built-in defaults) + environment; raise ConfigError on any mistake."""
    where = str(path) if path is not None else "the environment"
    token = _CONFIG_FILE.set(path)
    try:
        return Settings(**overrides)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where} is not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"cannot read {where}: {error.strerror}") from None
    except ValidationError as error:
        variable = env_origin(error)
        if variable is not None:
            where = f"the environment variable {variable}"
        raise ConfigError(f"{where}: {describe_validation_error(error)}") from None
    finally:
        _CONFIG_FILE.reset(token)


_FIELD_NAMES = {
    "sources": list(SourceConfig.model_fields),
    "subscribers": list(SubscriberConfig.model_fields),
    "http": list(HttpConfig.model_fields),
    "export": list(ExportConfig.model_fields),
    "heartbeat": list(HeartbeatConfig.model_fields),
    "": list(Settings.model_fields),
}


def describe_validation_error(error: ValidationError) -> str:
    """The first problem pydantic found, as a sentence a person can act on."""
    problem = error.errors(include_url=False)[0]
    location = [part for part in problem["loc"] if part != "function-after"]
    key = _location_text(location)
    kind = problem["type"]
    if kind == "extra_forbidden":
        section = str(location[0]) if len(location) > 1 else ""
        name = str(location[-1])
        close = difflib.get_close_matches(name, _FIELD_NAMES.get(section, []), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {key!r}{hint}; remove it or fix its spelling"
    message = str(problem.get("msg", "invalid value"))
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if not key:
        return message
    if kind in ("literal_error", "enum"):
        return f"{key}: {message[0].lower()}{message[1:]} (got {problem.get('input')!r})"
    value = problem.get("input")
    shown = (
        ""
        if isinstance(value, dict | list) or key.endswith(("urls", "url"))
        else f" (got {_short(value)})"
    )
    return f"{key}: {message}{shown}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}… ({len(str(value))} characters)"


def _location_text(location: list[Any]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
