"""Where a subscriber's messages go, resolved without importing apprise.

Each target has a stable `key` (a hash, so the outbox never stores the raw URL) and a
masked `label` for display. The raw URL stays in memory only.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from statuswatch.errors import ConfigError
from statuswatch.secrets import mask_url

if TYPE_CHECKING:
    from statuswatch.config import SubscriberConfig


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    label: str
    url: str | None = field(default=None, repr=False)  # secret: never print
    config_path: str | None = None
    tags: tuple[str, ...] = ()


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
    """Every target of one subscriber; raises ConfigError if a file cannot be read."""
    urls = list(subscriber.urls)
    if subscriber.urls_file:
        urls += read_urls_file(subscriber)
    targets = [
        Target(key=_key("url", url), label=mask_url(url), url=url) for url in dict.fromkeys(urls)
    ]
    if subscriber.apprise_config:
        path = expand_path(subscriber.apprise_config)
        if not path.is_file():
            raise ConfigError(
                f"subscriber {subscriber.name!r}: apprise_config {path} does not exist"
            )
        tags = tuple(subscriber.tags)
        label = f"apprise config {path}" + (f" (tags: {', '.join(tags)})" if tags else "")
        targets.append(
            Target(
                key=_key("config", f"{path}#{','.join(tags)}"),
                label=label,
                config_path=str(path),
                tags=tags,
            )
        )
    return targets
