"""`statuswatch run`: the poll cycle on an APScheduler 3 schedule, under systemd or not.

- one job per source at its interval (jitter, max_instances=1, coalesce, first run now);
  a failing source backs off (interval doubled per consecutive failure, capped at 30 min,
  at least any Retry-After) and returns to its interval after a success;
- one delivery job, armed for the moment the next outbox row is due (no busy loop);
- SIGTERM/SIGINT stop at once: a fetch or a wait is cancelled (nothing of it was written:
  a poll is recorded in one synchronous transaction, which a cancel cannot split); only a
  delivery in flight gets up to STOP_GRACE to finish, so its row is marked sent, not sent
  twice. A second SIGINT/SIGTERM ends the process at once (exit 130); a row it leaves
  `sending` is released by the next start. SIGHUP reloads the config (a bad one keeps
  the old);
- sd_notify READY/STATUS/WATCHDOG/RELOADING/STOPPING. WATCHDOG=1 is sent from the event
  loop and only while polls complete, so a stuck loop or a stuck poll trips systemd.
The state lock is held only during a cycle, so `status`, `history` and `outbox` work
while the daemon runs, and a stray timer `check` waits or exits 75.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from statuswatch import sdnotify
from statuswatch.backoff import backoff_interval
from statuswatch.clock import system_clock
from statuswatch.errors import ConfigError
from statuswatch.monitor import Monitor, SourceOutcome
from statuswatch.settings_view import format_duration
from statuswatch.stats import DaemonStats
from statuswatch.status_line import status_line
from statuswatch.store import LeadershipLost, Store, StoreError, StoreLocked

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from statuswatch.config import Settings, SourceConfig
    from statuswatch.leader import Election
    from statuswatch.web.server import Listener

log = logging.getLogger("statuswatch.daemon")

STOP_GRACE = 10.0
DELIVER_JOB = "deliver"
ELECTION_JOB = "election"


class Daemon:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        load_settings: Callable[[], Settings],
        *,
        notifier: sdnotify.Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.load_settings = load_settings
        self.notifier = notifier or sdnotify.Notifier()
        self.clock = system_clock()
        self.stopping = asyncio.Event()
        self.failures: dict[str, int] = {}
        self.outcomes: dict[str, SourceOutcome] = {}
        self.last_progress = time.monotonic()
        self.running: set[asyncio.Task[Any]] = set()
        # Deliveries in flight: the only work a stop waits for (up to STOP_GRACE).
        self.delivering = 0
        # One cycle at a time within this process. The store's file lock keeps *other*
        # processes out; without this, two sources due together (or a poll during the
        # delivery job) would meet our own file lock and skip a poll as if another run held it.
        self.cycle = asyncio.Lock()
        self.scheduler: AsyncIOScheduler | None = None
        self.monitor: Monitor | None = None
        self.stats = DaemonStats()
        self.web: Listener | None = None
        # Two machines (DESIGN §5): on a shared store only the elected leader polls.
        self.election: Election | None = None
        if store.shared:
            from statuswatch.leader import Election

            self.election = Election(store)

    async def main(self) -> int:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        from statuswatch.sources.client import new_client

        # Their INFO lines ("Running job …" every poll) would drown the transitions.
        for noisy in ("apscheduler", "apprise", "uvicorn"):
            logging.getLogger(noisy).setLevel(max(logging.WARNING, log.getEffectiveLevel()))
        # psycopg's pool logs every failed reconnection in several lines; the election
        # and the poll already say it once, in one sentence (shown again with --debug).
        if log.getEffectiveLevel() > logging.DEBUG:
            logging.getLogger("psycopg").setLevel(logging.CRITICAL)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_stop_signal)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload()))
        async with new_client() as client:
            self.monitor = Monitor(self.settings, self.store, client, self.clock)
            self.monitor.recipients.validate()
            from statuswatch.notify.deliver import validate_subscribers

            validate_subscribers(self.settings)
            self.scheduler = AsyncIOScheduler(timezone=UTC)
            # Before READY: a port in use ends the start with one sentence (exit 78).
            await self._sync_web()
            self._release_orphans()
            if self.election is None:
                self._schedule_sources()
            else:
                self._schedule_election(datetime.now(UTC))
            self._arm_delivery(datetime.now(UTC))
            self._schedule_watchdog()
            self.scheduler.start()
            self.notifier.ready()
            log.info(
                "statuswatch running: %s",
                ", ".join(
                    f"{s.name} every {format_duration(self.settings.source_interval(s))}"
                    for s in self.settings.sources
                ),
            )
            await self.stopping.wait()
            await self._shutdown()
        return 0

    # -- jobs ----------------------------------------------------------------------

    def _schedule_sources(self) -> None:
        assert self.scheduler is not None
        self._unschedule_sources()
        if self.election is not None and not self.election.is_leader:
            return  # a standby polls nothing; the election schedules them when it leads
        now = datetime.now(UTC)
        for source in self.settings.sources:
            self._add_poll_job(source, self.settings.source_interval(source), first_run=now)

    def _unschedule_sources(self) -> None:
        assert self.scheduler is not None
        for job in self.scheduler.get_jobs():
            if job.id.startswith("poll:"):
                job.remove()

    # -- leader election (shared store) ---------------------------------------------------

    def _schedule_election(self, when: datetime) -> None:
        from apscheduler.triggers.date import DateTrigger

        assert self.scheduler is not None
        self.scheduler.add_job(
            self._election_job,
            DateTrigger(run_date=when),
            id=ELECTION_JOB,
            replace_existing=True,
            misfire_grace_time=None,
            max_instances=1,
        )

    async def _election_job(self) -> None:
        assert self.election is not None
        try:
            change = self.election.tick()
            if not self.election.is_leader:
                # Standing by is this node's work: the watchdog judges polls only on the
                # leader, and a node that cannot reach its database stays up (DESIGN §5).
                self.last_progress = time.monotonic()
            if change is not None:
                self._on_role_change()
            elif not self.election.is_leader and self.election.problem is None:
                # A standby learns of rows the leader queued only by looking: any node
                # delivers (claims keep each row to one sender).
                self._arm_delivery(datetime.now(UTC))
            self._send_status()
        finally:
            if not self.stopping.is_set():
                delay = self.election.next_delay()
                self._schedule_election(datetime.now(UTC) + timedelta(seconds=delay))

    def _on_role_change(self) -> None:
        """Poll from the moment this node leads; stop at once when it no longer does."""
        self.failures.clear()
        self._schedule_sources()
        if self.election is not None and not self.election.is_leader:
            self._unschedule_sources()

    def _send_status(self) -> None:
        if not self.notifier.enabled:
            return  # outside systemd nobody reads the line: do not build it every poll
        role = self.election.describe() if self.election is not None else None
        given_up: dict[str, int] = {}
        try:
            pending = self.store.pending_count()
            given_up = self.store.dead_by_subscriber()
        except StoreError:
            pending = 0
        self.notifier.status(status_line(self.outcomes, pending, role, given_up))

    def _add_poll_job(self, source: SourceConfig, interval: float, first_run: datetime) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        assert self.scheduler is not None
        self.scheduler.add_job(
            self._poll_job,
            IntervalTrigger(seconds=interval, jitter=min(interval * 0.1, 30.0)),
            args=[source.name],
            id=f"poll:{source.name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=first_run,
            replace_existing=True,
        )

    async def _poll_job(self, source_name: str) -> None:
        await self._tracked(self._poll(source_name))

    async def _poll(self, source_name: str) -> None:
        async with self.cycle:
            await self._poll_locked(source_name)

    async def _poll_locked(self, source_name: str) -> None:
        source = next((s for s in self.settings.sources if s.name == source_name), None)
        if source is None or self.monitor is None:
            return
        try:
            with self.store.cycle_lock(wait=0):
                started = time.monotonic()
                outcome = await self.monitor.poll_source(source)
                self.stats.poll(
                    source_name,
                    outcome.ok,
                    time.monotonic() - started,
                    [str(t.kind) for t in outcome.transitions],
                )
                await self._deliver_locked()
        except LeadershipLost as error:
            log.warning("%s: %s", source_name, error)
            if self.election is not None and self.election.lost() is not None:
                self._on_role_change()
                self._send_status()
            return
        except StoreLocked:
            log.warning(
                "%s: another statuswatch run holds the lock; skipped this poll", source_name
            )
            return
        except ConfigError as error:
            log.error("%s: %s", source_name, error)
            return
        except StoreError as error:
            # The database failed under the poll: nothing of it was written. Retry with
            # the same back-off as a failing feed; the daemon stays up.
            self._store_failed(source, str(error))
            return
        self.last_progress = time.monotonic()
        self.outcomes[source_name] = outcome
        self._after_poll(source, outcome)
        self._send_status()
        await self.monitor.heartbeat(all(o.ok for o in self.outcomes.values()))

    def _store_failed(self, source: SourceConfig, error: str) -> None:
        failures = self.failures.get(source.name, 0) + 1
        self.failures[source.name] = failures
        interval = backoff_interval(self.settings.source_interval(source), failures, None)
        log.error("%s: database: %s; next try in %gs", source.name, error, interval)
        self.notifier.status(f"database failing: {error}; retrying")
        now = datetime.now(UTC)
        self._add_poll_job(source, interval, first_run=now + timedelta(seconds=interval))

    def _after_poll(self, source: SourceConfig, outcome: SourceOutcome) -> None:
        """Back off a failing source; return to the normal interval after a success."""
        base = self.settings.source_interval(source)
        previous = self.failures.get(source.name, 0)
        failures = 0 if outcome.ok else previous + 1
        self.failures[source.name] = failures
        for problem in outcome.missing:
            log.error("config: %s", problem)
        if outcome.ok and previous == 0:
            return
        interval = backoff_interval(base, failures, outcome.retry_after)
        if outcome.ok:
            log.info(
                "%s: feed readable again; polling every %s", source.name, format_duration(interval)
            )
        else:
            log.warning(
                "%s: %s; next try in %s", source.name, outcome.error, format_duration(interval)
            )
        now = datetime.now(UTC)
        self._add_poll_job(source, interval, first_run=now + timedelta(seconds=interval))

    async def _deliver_job(self) -> None:
        await self._tracked(self._deliver())

    async def _deliver(self) -> None:
        try:
            async with self.cycle:
                if self.store.shared:
                    # Any node delivers: row claims, not the poll lock, keep rows apart.
                    await self._deliver_locked()
                else:
                    with self.store.cycle_lock(wait=0):
                        await self._deliver_locked()
        except StoreLocked:
            self._arm_delivery(datetime.now(UTC) + timedelta(seconds=5))
        except StoreError as error:
            log.error("delivery: database: %s; retrying in 5s", error)
            self._arm_delivery(datetime.now(UTC) + timedelta(seconds=5))

    async def _deliver_locked(self) -> None:
        assert self.monitor is not None
        self.delivering += 1
        try:
            report = await self.monitor.deliver_due()
        finally:
            self.delivering -= 1
        if report is None:
            return  # the outbox had nothing pending or sending: no wake-up to arm
        self.stats.delivered(report.sent, report.dead)
        for line in report.problems:
            log.error("%s", line)
        due = self.store.next_due()
        if due is not None:
            self._arm_delivery(due)

    def _arm_delivery(self, when: datetime) -> None:
        """Wake the delivery job when the earliest pending row is due."""
        from apscheduler.triggers.date import DateTrigger

        if self.scheduler is None:
            return
        try:
            due = self.store.next_due()
        except StoreError:
            return  # the database is failing; the next poll or election tick re-arms
        if due is None:
            return
        run_at = max(when, due, datetime.now(UTC))
        self.scheduler.add_job(
            self._deliver_job,
            DateTrigger(run_date=run_at),
            id=DELIVER_JOB,
            replace_existing=True,
            misfire_grace_time=None,
            max_instances=1,
        )

    def _schedule_watchdog(self) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        interval = sdnotify.watchdog_interval()
        if interval is None or self.scheduler is None:
            return
        self.scheduler.add_job(
            self._watchdog_job,
            IntervalTrigger(seconds=interval),
            id="watchdog",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )

    async def _watchdog_job(self) -> None:
        """Pet the watchdog only while polls keep completing (see module docstring)."""
        longest = max(
            backoff_interval(self.settings.source_interval(s), self.failures.get(s.name, 0), None)
            for s in self.settings.sources
        )
        allowed = longest + 2 * self.settings.timeout * 3 + 60
        if time.monotonic() - self.last_progress <= allowed:
            self.notifier.watchdog()
        else:
            log.error("no poll has completed for %.0fs; not petting the watchdog", allowed)

    # -- lifecycle -------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> asyncio.Future[Any]:
        """Run in the background, remembered so that shutdown can wait for it."""
        task = asyncio.ensure_future(coroutine)
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return task

    async def _tracked(self, coroutine: Any) -> None:
        task = self._spawn(coroutine)
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:  # the daemon never dies of one bad cycle
            log.exception("a poll cycle failed unexpectedly; the next one runs as scheduled")

    async def reload(self) -> None:
        """SIGHUP: apply a valid new config; keep the old one if the new one is invalid."""
        if self.stopping.is_set():
            return
        self.notifier.reloading()
        try:
            # After the cycle in progress, if any: it finishes with the configuration it
            # started with, and cannot re-schedule its source over the new jobs afterwards.
            async with self.cycle:
                if self._apply_reload():
                    await self._sync_web()
        except Exception:  # a bug here must not kill the daemon nor leave systemd "reloading"
            log.exception("reload failed unexpectedly; keeping the running configuration")
        finally:
            self.notifier.ready()

    def _apply_reload(self) -> bool:
        try:
            settings = self.load_settings()
            monitor = Monitor(settings, self.store, self.monitor.client, self.clock)  # type: ignore[union-attr]
            monitor.recipients.validate()
            from statuswatch.notify.deliver import validate_subscribers

            validate_subscribers(settings)
        except ConfigError as error:
            log.error("reload failed, keeping the running configuration: %s", error)
            return False
        else:
            if settings.state_dir != self.settings.state_dir:
                log.warning("state_dir changes take effect only after a restart")
            self.settings, self.monitor = settings, monitor
            self.failures.clear()
            self.outcomes = {
                k: v for k, v in self.outcomes.items() if any(s.name == k for s in settings.sources)
            }
            self._schedule_sources()
            self._arm_delivery(datetime.now(UTC))
            log.info(
                "configuration reloaded: %d source(s), %d subscriber(s)",
                len(settings.sources),
                len(settings.subscribers),
            )
            return True

    async def _sync_web(self) -> None:
        """Start, move or stop the HTTP listener to match [http] (web/server.py Listener).
        Without [http], nothing of the web stack is imported."""
        if self.web is None:
            if self.settings.http is None:
                return
            from statuswatch.web.server import Listener

            self.web = Listener(self._web_app)
        starting = self.scheduler is not None and not self.scheduler.running
        await self.web.sync(self.settings.http, starting=starting)

    def _web_app(self) -> Any:
        from statuswatch.web.app import WebContext, build_app

        context = WebContext(
            store=self.store,
            settings=lambda: self.settings,
            clock=self.clock,
            stats=self.stats,
            leader=lambda: self.election is None or self.election.is_leader,
        )
        return build_app(context)

    def _on_stop_signal(self) -> None:
        """The first SIGTERM/SIGINT stops (see _shutdown); a second one ends at once. Run
        by the event loop between callbacks, so never in the middle of a transaction."""
        if not self.stopping.is_set():
            self.stopping.set()
            return
        log.warning("stopping now (second signal): a delivery in flight may be sent again")
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        os._exit(130)

    async def _shutdown(self) -> None:
        """Stop scheduling; cancel fetches and waits at once, give a delivery in flight
        up to STOP_GRACE, then cancel what is left."""
        self.notifier.stopping()
        log.info("stopping")
        if self.web is not None:
            await self.web.stop()
        # Pause, not shut down, while cycles finish: APScheduler's AsyncIOExecutor.shutdown()
        # cancels every running job at once, which would cut a delivery mid-send.
        if self.scheduler is not None:
            self.scheduler.pause()
        late = {task for task in self.running if not task.done()}
        deadline = time.monotonic() + STOP_GRACE
        while late and self.delivering and time.monotonic() < deadline:
            _, late = await asyncio.wait(late, timeout=min(0.05, deadline - time.monotonic()))
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=2)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        self._release_orphans()

    def _release_orphans(self) -> None:
        """Give rows stuck in `sending` back to `pending`, at start and at stop.

        Rows are claimed only under the store's cycle lock, so while we hold it a `sending`
        row belongs to no running cycle: a run that died mid-delivery (kill -9, power loss)
        or a cycle of ours cancelled at shutdown: release it so it goes out now, not whenever
        the outbox is next looked at. If another process holds the lock, its claims are
        live: leave them alone. On a shared store other nodes deliver without the lock, so
        a claim there is left to go stale (outbox.claim's stale_after).
        """
        if self.store.shared:
            return
        try:
            with self.store.cycle_lock(wait=0):
                rows = self.store.outbox_rows(("sending",))
                if rows:
                    self.store.release([row.id for row in rows])
                    log.info("%d interrupted delivery(ies) will be retried", len(rows))
        except StoreLocked:
            pass


def run_daemon(
    args: argparse.Namespace,
    load: Callable[[argparse.Namespace], Settings],
    open_store: Callable[[Settings], Store],
) -> int:
    settings = load(args)
    store = open_store(settings)
    try:
        daemon = Daemon(settings, store, lambda: load(args))
        return asyncio.run(daemon.main())
    finally:
        store.close()
