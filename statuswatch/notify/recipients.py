"""Which (subscriber, target) pairs a message is queued for (DESIGN §4).

Each target is one apprise URL, so one failing URL never re-sends to another. URLs from
`urls` and `urls_file` need no apprise; those of an `apprise_config` file are read with
apprise, the first time a run queues or delivers something for that subscriber.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from statuswatch.errors import ConfigError
from statuswatch.notify.targets import Target, check_targets, subscriber_targets
from statuswatch.store import OutboxEntry

if TYPE_CHECKING:
    from statuswatch.config import Settings, SubscriberConfig
    from statuswatch.model import Transition


class Recipients:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._targets: dict[str, list[Target]] = {}
        # By name: a fan-out to thousands of subscribers must not scan the list per row.
        self._by_name = {subscriber.name: subscriber for subscriber in settings.subscribers}

    def targets(self, subscriber_name: str) -> list[Target]:
        if subscriber_name not in self._targets:
            subscriber = self._subscriber(subscriber_name)
            self._targets[subscriber_name] = subscriber_targets(subscriber)
        return self._targets[subscriber_name]

    def subscriber(self, name: str) -> SubscriberConfig | None:
        """The configured subscriber of that name, or None if there is none (any more)."""
        return self._by_name.get(name)

    def _subscriber(self, name: str) -> SubscriberConfig:
        subscriber = self._by_name.get(name)
        if subscriber is None:
            raise ConfigError(f"no subscriber is named {name!r} in the configuration")
        return subscriber

    def validate(self) -> None:
        """Read every urls_file now and look for every apprise_config, so a missing
        credential fails before a poll is stored (without importing apprise)."""
        for subscriber in self.settings.subscribers:
            if subscriber.name not in self._targets:
                check_targets(subscriber)

    def entries_for(self, transition: Transition) -> list[OutboxEntry]:
        entries = []
        for subscriber in self.settings.subscribers:
            if not subscriber.wants(str(transition.kind), transition.service):
                continue
            entries.extend(
                OutboxEntry(subscriber.name, target.key, target.label)
                for target in self.targets(subscriber.name)
            )
        return entries
