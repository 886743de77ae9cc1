"""Delivering outbox rows through apprise (DESIGN §4).

Algorithm of `Deliverer.deliver_due()`:
1. read rows that are due (pending, or `sending` rows whose claim went stale);
2. group them per (subscriber, target), a target being one apprise URL, so one failing
   URL never re-sends to another and a target gets one digest for rows due together;
3. claim each row with a compare-and-set; rows another process claimed are skipped;
4. render and send; on success mark the rows sent (that write is retried while the
   database is locked: it is the one that prevents a duplicate), on failure schedule the
   next attempt (30 s doubling, capped at 1 h, ±10 % jitter) or, past `give_up_after`,
   mark them dead, log it and queue `delivery_failed` for whoever asked for it.
Each group's outcome is its own: a group that raises (a row that cannot be rendered, a
database error) fails its own rows with a one-line reason and never cancels another.
A row is marked sent only after the channel accepted it: a crash between the two can
re-send one message (at-least-once), never lose one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from statuswatch.clock import Clock
from statuswatch.errors import ConfigError
from statuswatch.model import Kind
from statuswatch.notify.backoff import (
    FIRST_RETRY,
    DeliveryReport,
    RowOutcome,
    next_attempt,
    retry_delay,
)
from statuswatch.notify.batch import Claims, SentMarks
from statuswatch.notify.channel import SendResult, build_apprise, send
from statuswatch.notify.claims import claimer_id
from statuswatch.notify.digest import render_digest
from statuswatch.notify.failtext import failure_extra, render_delivery_failed
from statuswatch.notify.gate import PolicyGate, lead_kind
from statuswatch.notify.render import Message, render
from statuswatch.notify.targets import Target
from statuswatch.secrets import Redactor, redact_logs
from statuswatch.store import OutboxRow, PolicyEntry, Store

if TYPE_CHECKING:
    import apprise

    from statuswatch.config import Settings, SubscriberConfig
    from statuswatch.notify.recipients import Recipients

__all__ = ["Deliverer", "DeliveryReport", "SendResult", "next_attempt", "retry_delay", "send"]

log = logging.getLogger("statuswatch.deliver")

CONCURRENCY = 64
#: How long a send the channel accepted keeps trying to be recorded as sent while the
#: database is locked; past it the row stays `sending` and is re-sent once its claim goes
#: stale (the one duplicate DESIGN §4 allows).
SENT_WRITE_PATIENCE = 300.0
#: Distinct rendered messages kept per delivery round (bounded: a backlog can hold many).
RENDERED_KEPT = 256


class Deliverer:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        recipients: Recipients,
        *,
        status_pages: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
        concurrency: int = CONCURRENCY,
        summarised: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.recipients = recipients
        self.status_pages = dict(status_pages or {})  # source name -> Apple's page
        self.rng = rng or random.Random()
        self.claimer = claimer_id()
        # `check` and `outbox retry` print one summary line of their own: the per-send
        # line is then debug output, so one failure is one line.
        self._fail_level = logging.DEBUG if summarised else logging.WARNING
        urls = [t.url for t in self._all_targets()]
        self.redactor = Redactor(urls)
        redact_logs(urls)  # apprise's debug log shows the URLs, urls_file ones included
        self._limit = asyncio.Semaphore(concurrency)
        self._sent = SentMarks(store, clock)
        self._claims = Claims(store, clock, self.claimer, 60.0)
        self._apprise: dict[str, apprise.Apprise] = {}
        self.gate = PolicyGate(settings, store, clock)  # DESIGN §4a silences, quiet hours
        self._told = 0  # delivery_failed rows queued during this step
        self._rendered: dict[tuple[Any, ...], Message] = {}

    def _all_targets(self) -> list[Target]:
        targets = []
        for subscriber in self.settings.subscribers:
            try:
                targets.extend(self.recipients.targets(subscriber.name))
            except ConfigError:
                continue
        return targets

    async def deliver_due(self, only: Collection[int] | None = None) -> DeliveryReport:
        """Deliver every due row (or only those of `only`, for `outbox retry`)."""
        report = DeliveryReport()
        now = self.clock()
        self.gate.refresh(now)
        groups: dict[tuple[str, str], list[OutboxRow]] = defaultdict(list)
        stale = max(60.0, self.settings.timeout * 6)
        self._claims = Claims(self.store, self.clock, self.claimer, stale)
        for row in self.store.outbox_rows(("pending", "sending"), due_before=now):
            if only is None or row.id in only:
                groups[(row.subscriber, row.target_key)].append(row)
        results = await asyncio.gather(
            *(self._guarded(rows, report) for rows in groups.values()), return_exceptions=True
        )
        if self._told and only is None:
            # Rows given up just now: tell whoever asked in this same run, not a poll later.
            told: dict[tuple[str, str], list[OutboxRow]] = defaultdict(list)
            for row in self.store.outbox_rows(("pending",), due_before=self.clock()):
                if row.kind == Kind.DELIVERY_FAILED and row.attempts == 0:
                    told[(row.subscriber, row.target_key)].append(row)
            results += await asyncio.gather(
                *(self._guarded(rows, report) for rows in told.values()), return_exceptions=True
            )
        for result in results:
            if isinstance(result, Exception):  # _guarded catches; this is the last net
                log.error("a delivery step failed: %s", self.redactor(_reason(result)))
        report.count_waiting(self.store)
        return report

    async def _guarded(self, rows: list[OutboxRow], report: DeliveryReport) -> None:
        """One group; whatever it raises fails its own unfinished rows, no one else's."""
        claimed: list[OutboxRow] = []
        done: set[int] = set()
        try:
            # Claim only once a sending slot is free, so a claim is always followed by its
            # send within one send timeout (a claim goes stale after 6 x timeout). Claiming
            # a whole large fan-out up front let claims go stale while still queued here:
            # on a store shared by two nodes, the other node re-sent them (962 duplicates
            # in 10,000 in bench/pg_bench.py), and it left the other node nothing to share.
            async with self._limit:
                await self._deliver_group(rows, report, claimed, done)
        except Exception as error:
            left = [row for row in claimed if row.id not in done]
            reason = self.redactor(f"delivery failed inside statuswatch: {_reason(error)}")
            log.error("%s (subscriber %s, %d row(s))", reason, rows[0].subscriber, len(left))
            if left:
                try:
                    self._failed(left, reason, report)
                except Exception as again:  # the database too: the claim goes stale
                    log.error("could not record that failure: %s", _reason(again))

    async def _deliver_group(
        self,
        rows: list[OutboxRow],
        report: DeliveryReport,
        claimed: list[OutboxRow],
        done: set[int],
    ) -> None:
        now = self.clock()
        # Claimed now that a sending slot is ours, in one transaction with the groups
        # that got one at about the same time (notify/batch.py), each row still its own
        # compare-and-set.
        won = await self._claims.claim([row.id for row in rows])
        for row in rows:
            if row.id in won:
                claimed.append(row)
            else:
                report.outcomes.append(_outcome(row, "skipped", "another process holds it"))
        if not claimed:
            return
        subscriber = self.recipients.subscriber(claimed[0].subscriber)
        target = self._target(subscriber, claimed[0].target_key)
        if subscriber is None or target is None:
            self._give_up(
                claimed, "its subscriber or target is no longer in the configuration", report
            )
            done.update(row.id for row in claimed)
            return
        to_send, catch_up = self._screen(subscriber, claimed, report, done)
        if not to_send and not catch_up:
            return
        try:
            instance = self._instance(target, subscriber.name)
        except ConfigError as error:
            # Nothing is lost: the rows stay pending until the configuration is fixed.
            ids = [row.id for row in to_send + catch_up]
            self.store.mark_failed(ids, str(error), now + timedelta(seconds=FIRST_RETRY), now)
            done.update(ids)
            report.problems.append(str(error))
            report.outcomes.extend(_outcome(r, "retrying", str(error)) for r in to_send + catch_up)
            return
        batches = self._messages(subscriber, to_send, report, done)
        if catch_up:
            batches.append((self._catch_up(subscriber, catch_up), catch_up))
        for message, batch in batches:
            result = await send(
                instance, message, lead_kind(batch), self.settings.timeout * 3, self.redactor
            )
            what = ", ".join(
                f"{r.kind}/{r.transition.service or r.transition.source}" for r in batch
            )
            if result.ok:
                await self._record_sent(batch)
                done.update(row.id for row in batch)
                report.sent += len(batch)
                report.outcomes.extend(_outcome(row, "sent") for row in batch)
                log.info("* OK %.1fs %s %s %s", result.seconds, subscriber.name, target.label, what)
                continue
            error = result.error or "failed"
            log.log(
                self._fail_level,
                "* ERR %.1fs %s %s %s: %s",
                result.seconds,
                subscriber.name,
                target.label,
                what,
                error,
            )
            report.failures.append(f"{subscriber.name} via {target.label}: {error}")
            self._failed(batch, error, report)
            done.update(row.id for row in batch)

    async def _record_sent(self, batch: list[OutboxRow]) -> None:
        """The channel accepted: keep trying to record it while the database is locked,
        since a row left `sending` is re-sent once its claim goes stale."""
        started, pause = time.monotonic(), 0.05
        while True:
            try:
                # Committed together with the sends that finished meanwhile (batch.py).
                await self._sent.mark([row.id for row in batch])
                return
            except Exception as error:
                if time.monotonic() - started > SENT_WRITE_PATIENCE:
                    raise
                log.debug("marking %d row(s) sent, retrying: %s", len(batch), _reason(error))
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)

    def _messages(
        self,
        subscriber: SubscriberConfig,
        rows: list[OutboxRow],
        report: DeliveryReport,
        done: set[int],
    ) -> list[tuple[Message, list[OutboxRow]]]:
        """One digest for several rows when the subscriber allows it, else one message
        each. A row whose message cannot be written fails alone (back-off, then dead)."""
        if not rows:
            return []
        digest = subscriber.digest if subscriber.digest is not None else self.settings.digest
        ordered = sorted(rows, key=lambda row: (row.transition.at, row.id))
        plain = [row for row in ordered if row.kind != Kind.DELIVERY_FAILED]
        if digest and len(plain) > 1:
            try:
                options = self._render_options(subscriber, plain[0])
                message = render_digest([row.transition for row in plain], **options)
                rest = [row for row in ordered if row.kind == Kind.DELIVERY_FAILED]
                return [(message, plain), *self._each(subscriber, rest, report, done)]
            except Exception as error:  # one poison row: render them one by one instead
                log.debug("digest for %s could not be written: %s", subscriber.name, error)
        return self._each(subscriber, ordered, report, done)

    def _each(
        self,
        subscriber: SubscriberConfig,
        rows: list[OutboxRow],
        report: DeliveryReport,
        done: set[int],
    ) -> list[tuple[Message, list[OutboxRow]]]:
        messages = []
        for row in rows:
            try:
                messages.append((self._render_one(subscriber, row), [row]))
            except Exception as error:
                reason = f"the message could not be written: {_reason(error)}"
                log.log(self._fail_level, "row %d for %s: %s", row.id, row.subscriber, reason)
                report.failures.append(f"{row.subscriber} via {row.target_label}: {reason}")
                self._failed([row], reason, report)
                done.add(row.id)
        return messages

    def _render_one(self, subscriber: SubscriberConfig, row: OutboxRow) -> Message:
        if row.kind == Kind.DELIVERY_FAILED:
            title, body = render_delivery_failed(
                row.transition, row.extra, timezone=subscriber.timezone or self.settings.timezone
            )
            return Message(title=title, body=body, kinds=(row.kind,))
        options = self._render_options(subscriber, row)
        try:
            # render() is a pure function of these: a fan-out renders each distinct
            # (transition, time zone, templates, page) once, not once per target.
            key = (row.transition, *options.values())
            message = self._rendered.get(key)
        except TypeError:  # an unhashable part: just render
            return render(row.transition, **options)
        if message is None:
            if len(self._rendered) >= RENDERED_KEPT:
                self._rendered.clear()
            message = self._rendered[key] = render(row.transition, **options)
        return message

    def _screen(
        self,
        subscriber: SubscriberConfig,
        rows: list[OutboxRow],
        report: DeliveryReport,
        done: set[int],
    ) -> tuple[list[OutboxRow], list[OutboxRow]]:
        """DESIGN §4a (notify/gate.py): silenced rows are set aside for good, rows inside
        quiet hours are held; returns (rows to send now, rows for the catch-up)."""
        to_send, catch_up = self.gate.screen(subscriber, rows)
        kept = {row.id for row in to_send + catch_up}
        for row in rows:
            if row.id not in kept:
                done.add(row.id)
                report.outcomes.append(_outcome(row, "held", "quiet hours or a silence"))
        return to_send, catch_up

    def _catch_up(self, subscriber: SubscriberConfig, rows: list[OutboxRow]) -> Message:
        return self.gate.catch_up(subscriber, rows, self._render_options(subscriber, rows[0]))

    def _render_options(self, subscriber: SubscriberConfig, row: OutboxRow) -> dict[str, Any]:
        return {
            "timezone": subscriber.timezone or self.settings.timezone,
            "status_page": self.status_pages.get(row.transition.source),
            "title_template": subscriber.title_template,
            "body_template": subscriber.body_template,
        }

    def _failed(self, rows: list[OutboxRow], error: str, report: DeliveryReport) -> None:
        now = self.clock()
        dead = []
        for row in rows:
            when = next_attempt(
                row.created_at,
                row.attempts,
                now,
                self.settings.give_up_after,
                self.rng.uniform(-1, 1),
            )
            if when is None:
                dead.append(row)
            else:
                self.store.mark_failed([row.id], error, when, now)
                report.outcomes.append(_outcome(row, "retrying", error))
        if dead:
            self._give_up(dead, error, report)

    def _give_up(self, rows: list[OutboxRow], error: str, report: DeliveryReport) -> None:
        self.store.mark_failed([row.id for row in rows], error, None, self.clock())
        report.dead += len(rows)
        for row in rows:
            report.outcomes.append(_outcome(row, "dead", error))
            log.log(
                logging.INFO if self._fail_level == logging.DEBUG else logging.ERROR,
                "gave up delivering %s for %s to subscriber %s (%s) after %d attempt(s): %s",
                row.kind,
                row.transition.service or row.transition.source,
                row.subscriber,
                row.target_label,
                row.attempts + 1,
                error,
            )
        try:
            self._tell_failure(rows, error)
        except Exception as failure:  # telling is best effort; the dead row stays visible
            log.warning("could not queue delivery_failed messages: %s", _reason(failure))

    def _tell_failure(self, rows: list[OutboxRow], error: str) -> None:
        """DESIGN §4: `delivery_failed`, once per dead row, to every target of subscribers
        who list that kind, except the dead row's own target. A dead `delivery_failed`
        row is not reported again (no chain of reports about reports)."""
        entries = []
        for row in rows:
            if row.kind == Kind.DELIVERY_FAILED:
                continue
            extra = failure_extra(
                row.subscriber, row.target_label, row.kind, row.attempts + 1, error
            )
            about = replace(row.transition, kind=Kind.DELIVERY_FAILED, id=None)
            for subscriber in self.settings.subscribers:
                if not subscriber.wants(Kind.DELIVERY_FAILED.value, row.transition.service):
                    continue
                try:
                    targets = self.recipients.targets(subscriber.name)
                except ConfigError:
                    continue
                entries.extend(
                    PolicyEntry(
                        f"delivery_failed:{row.id}:{target.key}",
                        subscriber.name,
                        target.key,
                        target.label,
                        about,
                        extra,
                    )
                    for target in targets
                    if target.key != row.target_key
                )
        if entries:
            queued = self.store.queue_policy(entries, self.clock())
            self._told += queued
            log.info("queued %d delivery_failed message(s)", queued)

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
            self._apprise[target.key] = build_apprise(target, subscriber)
        return self._apprise[target.key]


def _outcome(row: OutboxRow, status: str, error: str | None = None) -> RowOutcome:
    return RowOutcome(row.id, row.subscriber, row.target_label, status, error)


def _reason(error: BaseException) -> str:
    """One line: the exception's type and its first line."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def validate_subscribers(settings: Settings) -> None:
    """Every target readable and parseable by apprise, or ConfigError naming it."""
    from statuswatch.notify.targets import subscriber_targets

    for subscriber in settings.subscribers:
        for target in subscriber_targets(subscriber):
            build_apprise(target, subscriber.name)
