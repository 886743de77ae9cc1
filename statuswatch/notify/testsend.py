"""`statuswatch notify-test` (DESIGN §4): a realistic sample sent now to every target,
saying in its title and first line that it is a test, so nobody acts on it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from statuswatch.clock import Clock
from statuswatch.config import Settings, SubscriberConfig
from statuswatch.errors import ConfigError
from statuswatch.notify.channel import build_apprise, send
from statuswatch.notify.render import Message, render
from statuswatch.notify.samples import sample_transition
from statuswatch.notify.targets import subscriber_targets
from statuswatch.notify.text import TITLE_MAX, cap
from statuswatch.secrets import Redactor, redact_logs

TEST_TITLE = "TEST from statuswatch notify-test"
TEST_LINE = (
    "This is a test sent with `statuswatch notify-test`: nothing has changed. "
    "Below is what a real message looks like."
)


@dataclass(frozen=True, slots=True)
class TestResult:
    subscriber: str
    target: str  # masked
    ok: bool
    error: str | None = None


def as_test(message: Message) -> Message:
    """The real layout, with a title and first line that say it is a test."""
    return Message(
        title=cap(f"{TEST_TITLE}: {message.title}", TITLE_MAX),
        body=f"{TEST_LINE}\n\n{message.body}",
        kinds=message.kinds,
    )


async def send_test(
    settings: Settings,
    subscribers: Sequence[SubscriberConfig],
    kind: str,
    service: str,
    clock: Clock,
) -> list[TestResult]:
    transition = sample_transition(kind, service, now=clock())
    redactor = Redactor(url for s in subscribers for url in s.urls)
    results = []
    for subscriber in subscribers:
        targets = subscriber_targets(subscriber)  # a file that cannot be read: exit 78
        urls = [target.url for target in targets]
        redactor.add(urls)
        redact_logs(urls)
        message = as_test(
            render(
                transition,
                timezone=subscriber.timezone or settings.timezone,
                status_page=None,
                title_template=subscriber.title_template,
                body_template=subscriber.body_template,
            )
        )
        for target in targets:
            try:
                instance = build_apprise(target, subscriber.name)
            except ConfigError as error:
                results.append(TestResult(subscriber.name, target.label, False, str(error)))
                continue
            result = await send(instance, message, kind, settings.timeout * 3, redactor)
            results.append(TestResult(subscriber.name, target.label, result.ok, result.error))
    return results
