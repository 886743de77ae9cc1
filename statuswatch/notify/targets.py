"""Where a subscriber's messages go: one target per apprise URL (DESIGN §4).

URLs written in the config and `urls_file` need no apprise; an `apprise_config` file is
expanded with apprise, only by runs that queue or deliver.

Each target has a stable `key` (a hash, so the outbox never stores the raw URL) and a
masked `label` for display. The raw URL stays in memory only.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from statuswatch.errors import ConfigError
from statuswatch.secrets import mask_url, redact_logs

if TYPE_CHECKING:
    from statuswatch.config import SubscriberConfig


class Target(NamedTuple):
    key: str
    label: str
    url: str  # secret: never print (see __repr__)

    def __repr__(self) -> str:
        return f"Target(key={self.key!r}, label={self.label!r})"


def expand_path(value: str) -> Path:
    """`~` and `${CREDENTIALS_DIRECTORY}` (systemd LoadCredential=) in subscriber paths."""
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if "${CREDENTIALS_DIRECTORY}" in value or "$CREDENTIALS_DIRECTORY" in value:
        if not credentials:
            raise ConfigError(
                f"{value} uses $CREDENTIALS_DIRECTORY, which only systemd sets (LoadCredential=); "
                "from a shell, pass --credentials-dir DIR naming the folder with the same files "
                "(e.g. /etc/statuswatch), or use a plain path"
            )
        value = value.replace("${CREDENTIALS_DIRECTORY}", credentials).replace(
            "$CREDENTIALS_DIRECTORY", credentials
        )
    return Path(value).expanduser()


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}\x00{value}".encode()).hexdigest()[:20]


def read_urls_file(subscriber: SubscriberConfig) -> list[str]:
    assert subscriber.urls_file is not None
    path = expand_path(subscriber.urls_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"subscriber {subscriber.name!r}: cannot read urls_file {path}: "
            f"{error.strerror or error}"
        ) from None
    urls = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not urls:
        raise ConfigError(f"subscriber {subscriber.name!r}: urls_file {path} lists no URL")
    for url in urls:
        if "://" not in url:
            raise ConfigError(
                f"subscriber {subscriber.name!r}: a line of {path} is not an apprise URL "
                f"({mask_url(url)!r})"
            )
    return urls


def subscriber_targets(subscriber: SubscriberConfig) -> list[Target]:
    """Every target of one subscriber, one per apprise URL (DESIGN §4 "a target is one
    apprise URL"); raises ConfigError if a file cannot be read or yields no URL.

    An `apprise_config` file is expanded here into the URLs it yields for the
    subscriber's tags, which needs apprise: only a run that queues or delivers gets here.
    """
    urls = list(subscriber.urls)
    if subscriber.urls_file:
        urls += read_urls_file(subscriber)
    if subscriber.apprise_config:
        urls += config_urls(subscriber)
    return [
        Target(key=_key("url", url), label=mask_url(url), url=url) for url in dict.fromkeys(urls)
    ]


class _Hold(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def check_targets(subscriber: SubscriberConfig) -> None:
    """What can be checked without apprise: urls_file readable, apprise_config present."""
    if subscriber.urls_file:
        read_urls_file(subscriber)
    if subscriber.apprise_config:
        _config_path(subscriber)


def _config_path(subscriber: SubscriberConfig) -> Path:
    assert subscriber.apprise_config is not None
    path = expand_path(subscriber.apprise_config)
    if not path.is_file():
        raise ConfigError(f"subscriber {subscriber.name!r}: apprise_config {path} does not exist")
    return path


def config_urls(subscriber: SubscriberConfig) -> list[str]:
    """The URLs an apprise config file (TEXT or YAML) yields for the subscriber's tags
    (any of them; every URL of the file when no tags are set)."""
    import apprise

    path = _config_path(subscriber)
    config = apprise.AppriseConfig()
    if not config.add(str(path)):
        raise ConfigError(f"subscriber {subscriber.name!r}: apprise cannot read {path}")
    instance = apprise.Apprise()
    instance.add(config)
    tags = list(subscriber.tags) or apprise.common.MATCH_ALL_TAG
    # apprise logs each URL it loads from the file ("Loaded URL: json://…/TOKEN") before
    # we know them: hold its records until the URLs are known to the log redactor.
    held = _Hold()
    logger = logging.getLogger("apprise")
    logger.addHandler(held)
    propagate, logger.propagate = logger.propagate, False
    try:
        urls = [plugin.url() for plugin in instance.find(tag=tags)]
    except Exception as error:  # apprise parses the file here; its errors name no secret
        raise ConfigError(
            f"subscriber {subscriber.name!r}: apprise cannot read {path} ({type(error).__name__})"
        ) from None
    finally:
        logger.removeHandler(held)
        logger.propagate = propagate
        redact_logs(locals().get("urls") or [])
        for record in held.records:
            logger.handle(record)
    if not urls:
        which = f" for the tags {', '.join(subscriber.tags)}" if subscriber.tags else ""
        raise ConfigError(
            f"subscriber {subscriber.name!r}: apprise_config {path} yields no usable URL{which} "
            "(check the file's URLs and tags against apprise's documentation)"
        )
    return urls
