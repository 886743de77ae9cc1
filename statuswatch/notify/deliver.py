"""Delivering outbox rows through apprise (DESIGN §4). The only module that imports apprise.

Algorithm of `Deliverer.deliver_due()`:
1. read rows that are due (pending, or `sending` rows whose claimer died);
2. group them per (subscriber, target), so one failing Slack webhook never re-sends the
   email and a target gets one digest for several transitions due together;
3. claim each row with a compare-and-set; rows another process claimed are skipped;
4. send; on success mark the rows sent, on failure schedule the next attempt
   (30 s doubling, capped at 1 h, ±10 % jitter) or, past `give_up_after`, mark them dead
   and log it at error level.
A row is marked sent only after the channel accepted it: a crash between the two can
re-send one message (at-least-once), never lose one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from statuswatch.clock import Clock
from statuswatch.errors import ConfigError
from statuswatch.model import Kind, Transition
from statuswatch.notify.gate import PolicyGate, is_held, lead_kind
from statuswatch.notify.render import Message, render, render_digest, sample_transition
from statuswatch.notify.targets import Target, subscriber_targets
from statuswatch.secrets import Redactor, mask_url, redact_logs
from statuswatch.sources.apple import STATUS_PAGES
from statuswatch.store import OutboxRow, Store

if TYPE_CHECKING:
    import apprise

    from statuswatch.config import Settings, SubscriberConfig
    from statuswatch.monitor import Recipients

log = logging.getLogger("statuswatch.deliver")

FIRST_RETRY = 30.0
MAX_RETRY = 3600.0
CONCURRENCY = 64


def retry_delay(attempts: int, jitter: float) -> float:
    """30 s doubling per failed attempt so far, ±10 % (`jitter` in [-1, 1]), never over 1 h."""
    base = min(FIRST_RETRY * 2 ** max(attempts, 0), MAX_RETRY)
    return min(base * (1 + 0.1 * jitter), MAX_RETRY)


def next_attempt(
    created_at: datetime, attempts: int, now: datetime, give_up_after: float, jitter: float
) -> datetime | None:
    """When to try again after a failure, or None when the row must be given up."""
    deadline = created_at + timedelta(seconds=give_up_after)
    if now >= deadline:
        return None
    return min(now + timedelta(seconds=retry_delay(attempts, jitter)), deadline)


@dataclass(slots=True)
class DeliveryReport:
    sent: int = 0
    pending: int = 0
    dead: int = 0
    waiting: dict[str, int] = field(default_factory=dict)  # subscriber -> rows still pending
    problems: list[str] = field(default_factory=list)  # configuration problems met

    @classmethod
    def waiting_in(cls, store: Store) -> DeliveryReport:
        """A report of rows still waiting, with nothing sent in this run."""
        report = cls()
        report.count_waiting(store)
        return report

    def count_waiting(self, store: Store) -> None:
        for row in store.outbox_rows(("pending", "sending")):
            if is_held(row):
                continue  # held by quiet hours (DESIGN §4a), not waiting for a retry
            self.pending += 1
            self.waiting[row.subscriber] = self.waiting.get(row.subscriber, 0) + 1

    def summary_lines(self) -> list[str]:
        lines = list(self.problems)
        if self.pending:
            who = ", ".join(f"{name} ({count})" for name, count in sorted(self.waiting.items()))
            lines.append(
                f"{self.pending} notification(s) could not be delivered yet and will be "
                f"retried: {who}; see `statuswatch outbox`"
            )
        return lines


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class TestResult:
    subscriber: str
    target: str
    ok: bool
    error: str | None = None


def _notify_type(kind: str) -> str:
    import apprise

    if kind in (Kind.RECOVERED, Kind.SOURCE_UP):
        return apprise.NotifyType.SUCCESS
    if kind == Kind.OUTAGE:
        return apprise.NotifyType.FAILURE
    if kind == Kind.SCHEDULED:
        return apprise.NotifyType.INFO
    return apprise.NotifyType.WARNING


def _build_apprise(target: Target, subscriber: str) -> apprise.Apprise:
    """An Apprise object for one target; ConfigError (privacy form only) if unusable."""
    import apprise

    instance = apprise.Apprise()
    if target.url is not None:
        if not instance.add(target.url):
            raise ConfigError(
                f"subscriber {subscriber!r}: apprise cannot use the URL {mask_url(target.url)} "
                "(check the scheme and its parts against apprise's documentation)"
            )
        return instance
    config = apprise.AppriseConfig()
    if not config.add(target.config_path):
        raise ConfigError(f"subscriber {subscriber!r}: cannot read {target.label}")
    instance.add(config)
    return instance


def privacy_label(instance: apprise.Apprise, fallback: str) -> str:
    try:
        return ", ".join(server.url(privacy=True) for server in instance) or fallback
    except Exception:  # apprise plugins format their own URLs; never let that break a send
        return fallback


async def send(
    instance: apprise.Apprise,
    message: Message,
    kind: str,
    tags: Sequence[str],
    timeout: float,
    redactor: Redactor,
) -> SendResult:
    """One apprise call; the error, if any, is apprise's last complaint with secrets removed."""
    import apprise

    started = time.monotonic()
    try:
        result = await instance.async_notify(
            body=message.body,
            title=message.title,
            notify_type=_notify_type(kind),
            body_format=apprise.NotifyFormat.TEXT,
            tag=list(tags) if tags else apprise.common.MATCH_ALL_TAG,
            timeout=timeout,
        )
    except Exception as error:  # a plugin bug must not take the daemon down
        return SendResult(False, redactor(f"{type(error).__name__}: {error}"), _since(started))
    if result:
        return SendResult(True, None, _since(started))
    return SendResult(False, redactor(_failure_reason(result)), _since(started))


def _since(started: float) -> float:
    return time.monotonic() - started


def _failure_reason(result: Any) -> str:
    complaints = [
        entry.message
        for entry in result.logs()
        if getattr(entry, "level", "") in ("WARNING", "ERROR", "CRITICAL")
    ]
    if complaints:
        return " / ".join(dict.fromkeys(complaints))[-300:]
    status = getattr(result, "status", None)
    return f"the channel did not accept the message ({getattr(status, 'name', 'failed')})"


class Deliverer:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        recipients: Recipients,
        *,
        rng: random.Random | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.recipients = recipients
        self.rng = rng or random.Random()
        self.claimer = f"{os.uname().nodename}:{os.getpid()}"
        urls = [t.url for t in self._all_targets() if t.url]
        self.redactor = Redactor(urls)
        redact_logs(urls)  # apprise's debug log shows the URLs, urls_file ones included
        self._limit = asyncio.Semaphore(concurrency)
        self._apprise: dict[str, apprise.Apprise] = {}
        self.gate = PolicyGate(settings, store, clock)  # DESIGN §4a silences, quiet hours

    def _all_targets(self) -> list[Target]:
        targets = []
        for subscriber in self.settings.subscribers:
            try:
                targets.extend(self.recipients.targets(subscriber.name))
            except ConfigError:
                continue
        return targets

    async def deliver_due(self) -> DeliveryReport:
        report = DeliveryReport()
        now = self.clock()
        self.gate.refresh(now)
        groups: dict[tuple[str, str], list[OutboxRow]] = defaultdict(list)
        for row in self.store.outbox_rows(("pending", "sending"), due_before=now):
            groups[(row.subscriber, row.target_key)].append(row)
        await asyncio.gather(*(self._deliver_group(rows, report) for rows in groups.values()))
        report.count_waiting(self.store)
        return report

    async def _deliver_group(self, rows: list[OutboxRow], report: DeliveryReport) -> None:
        # Claim only once a sending slot is free, so a claim is always followed by its
        # send within one send timeout (a claim goes stale after 6 x timeout). Claiming a
        # whole large fan-out up front let claims go stale while still queued here: on a
        # store shared by two nodes, the other node re-sent them (962 duplicates in 10,000
        # in bench/pg_bench.py), and it left the other node nothing to share.
        async with self._limit:
            await self._deliver_group_now(rows, report)

    async def _deliver_group_now(self, rows: list[OutboxRow], report: DeliveryReport) -> None:
        now = self.clock()
        stale = max(60.0, self.settings.timeout * 6)
        claimed = [row for row in rows if self.store.claim(row.id, now, self.claimer, stale)]
        if not claimed:
            return
        subscriber_name = claimed[0].subscriber
        subscriber = self.recipients.subscriber(subscriber_name)
        target = self._target(subscriber, claimed[0].target_key)
        if subscriber is None or target is None:
            self._give_up(
                claimed, "its subscriber or target is no longer in the configuration", report
            )
            return
        claimed, catch_up = self.gate.screen(subscriber, claimed)
        if not claimed and not catch_up:
            return
        try:
            instance = self._instance(target, subscriber.name)
        except ConfigError as error:
            # Nothing is lost: the rows stay pending until the configuration is fixed.
            self.store.mark_failed(
                [row.id for row in claimed + catch_up],
                str(error),
                now + timedelta(seconds=FIRST_RETRY),
                now,
            )
            report.problems.append(str(error))
            return
        messages = self._messages(subscriber, claimed) if claimed else []
        if catch_up:
            options = self._render_options(subscriber, catch_up[0].transition)
            messages.append((self.gate.catch_up(subscriber, catch_up, options), catch_up))
        for message, batch in messages:
            result = await send(
                instance,
                message,
                lead_kind(batch),
                target.tags,
                self.settings.timeout * 3,
                self.redactor,
            )
            ids = [row.id for row in batch]
            what = ", ".join(
                f"{r.kind}/{r.transition.service or r.transition.source}" for r in batch
            )
            if result.ok:
                self.store.mark_sent(ids, self.clock())
                report.sent += len(batch)
                log.info("* OK %.1fs %s %s %s", result.seconds, subscriber.name, target.label, what)
                continue
            error = result.error or "failed"
            log.warning(
                "* ERR %.1fs %s %s %s: %s",
                result.seconds,
                subscriber.name,
                target.label,
                what,
                error,
            )
            self._failed(batch, error, report)

    def _messages(
        self, subscriber: SubscriberConfig, rows: list[OutboxRow]
    ) -> list[tuple[Message, list[OutboxRow]]]:
        """One digest for several rows when the subscriber allows it, else one message each."""
        options = self._render_options(subscriber, rows[0].transition)
        digest = subscriber.digest if subscriber.digest is not None else self.settings.digest
        ordered = sorted(rows, key=lambda row: (row.transition.at, row.id))
        if digest and len(ordered) > 1:
            return [(render_digest([row.transition for row in ordered], **options), ordered)]
        return [
            (render(row.transition, **self._render_options(subscriber, row.transition)), [row])
            for row in ordered
        ]

    def _render_options(
        self, subscriber: SubscriberConfig, transition: Transition
    ) -> dict[str, Any]:
        source = next((s for s in self.settings.sources if s.name == transition.source), None)
        return {
            "timezone": subscriber.timezone or self.settings.timezone,
            "status_page": STATUS_PAGES[source.feed] if source else None,
            "title_template": subscriber.title_template,
            "body_template": subscriber.body_template,
        }

    def _failed(self, rows: list[OutboxRow], error: str, report: DeliveryReport) -> None:
        now = self.clock()
        retry_at = [
            next_attempt(
                row.created_at,
                row.attempts,
                now,
                self.settings.give_up_after,
                self.rng.uniform(-1, 1),
            )
            for row in rows
        ]
        dead = [row for row, when in zip(rows, retry_at, strict=True) if when is None]
        if dead:
            self._give_up(dead, error, report)
        for row, when in zip(rows, retry_at, strict=True):
            if when is not None:
                self.store.mark_failed([row.id], error, when, now)

    def _give_up(self, rows: list[OutboxRow], error: str, report: DeliveryReport) -> None:
        self.store.mark_failed([row.id for row in rows], error, None, self.clock())
        report.dead += len(rows)
        for row in rows:
            log.error(
                "gave up delivering %s for %s to subscriber %s (%s) after %d attempt(s): %s",
                row.transition.kind,
                row.transition.service or row.transition.source,
                row.subscriber,
                row.target_label,
                row.attempts + 1,
                error,
            )

    def _target(self, subscriber: SubscriberConfig | None, key: str) -> Target | None:
        if subscriber is None:
            return None
        try:
            targets = self.recipients.targets(subscriber.name)
        except ConfigError:
            return None
        return next((t for t in targets if t.key == key), None)

    def _instance(self, target: Target, subscriber: str) -> apprise.Apprise:
        if target.key not in self._apprise:
            self._apprise[target.key] = _build_apprise(target, subscriber)
        return self._apprise[target.key]


def validate_subscribers(settings: Settings) -> None:
    """Every target readable and parseable by apprise, or ConfigError naming it."""
    for subscriber in settings.subscribers:
        for target in subscriber_targets(subscriber):
            _build_apprise(target, subscriber.name)


async def send_test(
    settings: Settings,
    subscribers: Sequence[SubscriberConfig],
    kind: str,
    service: str,
    clock: Clock,
) -> list[TestResult]:
    """`statuswatch notify-test`: a realistic sample, sent now to every target."""
    transition = sample_transition(kind, service, now=clock())
    redactor = Redactor(url for s in subscribers for url in s.urls)
    results = []
    for subscriber in subscribers:
        for target in subscriber_targets(subscriber):
            redactor.add([target.url] if target.url else [])
            redact_logs([target.url] if target.url else [])
            try:
                instance = _build_apprise(target, subscriber.name)
            except ConfigError as error:
                results.append(TestResult(subscriber.name, target.label, False, str(error)))
                continue
            label = privacy_label(instance, target.label)
            if redactor(label) != label:  # apprise keeps path tokens (json://host/TOKEN)
                label = target.label
            message = render(
                transition,
                timezone=subscriber.timezone or settings.timezone,
                status_page=None,
                title_template=subscriber.title_template,
                body_template=subscriber.body_template,
            )
            result = await send(
                instance, message, kind, target.tags, settings.timeout * 3, redactor
            )
            results.append(TestResult(subscriber.name, label, result.ok, result.error))
    return results
