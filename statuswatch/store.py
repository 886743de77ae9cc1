"""DESIGN §5: durable state in SQLite (WAL) under the state directory.

Holds the last confirmed state per service, source health and HTTP validators, the
last feed body (so a 304 can be evaluated again), transitions, the outbox and the
planned events already announced. The database grows with transitions, not with polls:
a poll that changes nothing only updates its source's row in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path

from statuswatch.model import Event, Kind, State, Transition
from statuswatch.sources.http import Validators
from statuswatch.tracker import ServiceTrack, SourceHealth, SourceTrack

log = logging.getLogger("statuswatch.store")

DB_NAME = "statuswatch.db"
LOCK_NAME = "statuswatch.lock"
SCHEMA_VERSION = 1
PLANNED_MEMORY_SECONDS = 180 * 86400  # how long an announced planned event is remembered

_SCHEMA = [
    # version 1
    """
    CREATE TABLE service_state (
        source TEXT NOT NULL,
        service_key TEXT NOT NULL,
        service TEXT NOT NULL,
        state TEXT,
        since REAL,
        cause TEXT,
        candidate TEXT,
        candidate_since REAL,
        streak INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (source, service_key)
    );
    CREATE TABLE source_state (
        source TEXT PRIMARY KEY,
        last_poll REAL,
        last_success REAL,
        first_failure REAL,
        down INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        etag TEXT,
        last_modified TEXT,
        body_hash TEXT,
        body BLOB
    );
    CREATE TABLE transitions (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        service TEXT,
        kind TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        at REAL NOT NULL,
        since REAL,
        event TEXT,
        redirect_url TEXT
    );
    CREATE INDEX transitions_at ON transitions (at);
    CREATE TABLE planned_seen (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        first_seen REAL NOT NULL,
        PRIMARY KEY (source, key)
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        transition_id INTEGER NOT NULL REFERENCES transitions (id),
        subscriber TEXT NOT NULL,
        target_key TEXT NOT NULL,
        target_label TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        next_attempt_at REAL NOT NULL,
        claimed_at REAL,
        claimed_by TEXT,
        sent_at REAL,
        last_error TEXT,
        UNIQUE (transition_id, subscriber, target_key)
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
    """,
]


class StoreError(Exception):
    """The state directory or database cannot be used. One sentence."""


class StoreLocked(StoreError):
    """Another statuswatch process holds the poll-cycle lock (or the database)."""


class StoreUnwritable(StoreError):
    """The state directory cannot be created or written."""


def default_state_dir() -> Path:
    """DESIGN §5: $STATE_DIRECTORY (systemd), else $XDG_STATE_HOME, else ~/.local/state."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "statuswatch"


def ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def event_to_text(event: Event | None) -> str | None:
    if event is None:
        return None
    data = {f.name: getattr(event, f.name) for f in fields(Event)}
    data["affected_services"] = list(event.affected_services)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def event_from_text(text: str | None) -> Event | None:
    if not text:
        return None
    data = json.loads(text)
    known = {f.name for f in fields(Event)}
    values = {key: value for key, value in data.items() if key in known}
    values["affected_services"] = tuple(values.get("affected_services") or ())
    return Event(**values)


@dataclass(frozen=True, slots=True)
class FeedCache:
    """What the last successful fetch left for the next one."""

    validators: Validators = field(default_factory=Validators)
    body_hash: str | None = None
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class SourceStatus:
    source: str
    last_poll: datetime | None
    last_success: datetime | None
    last_error: str | None
    down: bool


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One delivery to queue together with its transition (DESIGN §4)."""

    subscriber: str
    target_key: str
    target_label: str


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    transition: Transition
    subscriber: str
    target_key: str
    target_label: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class Store:
    """One SQLite database. Every write is a short transaction; see `cycle_lock()`."""

    def __init__(self, state_dir: Path, connection: sqlite3.Connection) -> None:
        self.state_dir = state_dir
        self.path = state_dir / DB_NAME
        self._db = connection

    # -- opening -----------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        """Open (creating, migrating, or replacing a corrupt file) the database."""
        _ensure_dir(state_dir)
        path = state_dir / DB_NAME
        try:
            connection = _connect(path)
        except sqlite3.DatabaseError as error:
            if _is_locked(error):
                raise StoreLocked(
                    f"the database {path} is locked by another process; try again shortly"
                ) from None
            if not _is_corrupt(error):
                raise StoreUnwritable(f"cannot open the database {path}: {error}") from None
            aside = _move_aside(path)
            log.warning(
                "the database %s was corrupt (%s); moved it to %s and started a new one: "
                "stored states and pending notifications in it are not used",
                path,
                error,
                aside.name,
            )
            connection = _connect(path)
        return cls(state_dir, connection)

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def cycle_lock(self, wait: float = 5.0, poll: float = 0.05) -> Iterator[None]:
        """DESIGN §5: one poll cycle at a time per state directory.

        A file lock rather than a database lock, so that readers (`status`, `history`)
        and the outbox's own compare-and-set claims keep working meanwhile; the kernel
        releases it if the process dies.
        """
        lock_path = self.state_dir / LOCK_NAME
        try:
            handle = open(lock_path, "a+b")  # noqa: SIM115 - held for the whole cycle
        except OSError as error:
            raise StoreUnwritable(
                f"cannot create the lock file {lock_path}: {error.strerror}"
            ) from None
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreLocked(
                            "another statuswatch check is running on "
                            f"{self.state_dir}; try again when it has finished"
                        ) from None
                    time.sleep(poll)
            yield
        finally:
            handle.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise _translate(error, self.path) from None
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as error:
                self._db.execute("ROLLBACK")
                raise _translate(error, self.path) from None

    # -- tracker state -----------------------------------------------------------

    def load_track(self, source: str) -> SourceTrack:
        services = {}
        for row in self._db.execute(
            "SELECT service_key, service, state, since, cause, candidate, candidate_since,"
            " streak FROM service_state WHERE source = ?",
            (source,),
        ):
            key, service, state, since, cause, candidate, candidate_since, streak = row
            services[key] = ServiceTrack(
                service=service,
                state=None if state is None else State(state),
                since=dt(since),
                cause=event_from_text(cause),
                candidate=None if candidate is None else State(candidate),
                candidate_since=dt(candidate_since),
                streak=streak,
            )
        health = SourceHealth()
        row = self._db.execute(
            "SELECT last_success, first_failure, down FROM source_state WHERE source = ?",
            (source,),
        ).fetchone()
        if row is not None:
            health = SourceHealth(
                last_success=dt(row[0]), first_failure=dt(row[1]), down=bool(row[2])
            )
        announced = frozenset(
            key
            for (key,) in self._db.execute(
                "SELECT key FROM planned_seen WHERE source = ?", (source,)
            )
        )
        return SourceTrack(services=services, health=health, announced=announced)

    def load_feed_cache(self, source: str) -> FeedCache:
        row = self._db.execute(
            "SELECT etag, last_modified, body_hash, body FROM source_state WHERE source = ?",
            (source,),
        ).fetchone()
        if row is None:
            return FeedCache()
        etag, last_modified, digest, body = row
        return FeedCache(
            validators=Validators(etag=etag, last_modified=last_modified),
            body_hash=digest,
            body=None if body is None else zlib.decompress(body),
        )

    def record_poll(
        self,
        source: str,
        at: datetime,
        before: SourceTrack,
        after: SourceTrack,
        transitions: Sequence[Transition],
        deliveries: Sequence[Sequence[OutboxEntry]],
        *,
        error: str | None = None,
        feed: FeedCache | None = None,
    ) -> list[Transition]:
        """Write one poll's outcome in ONE transaction (DESIGN §4 persistent outbox).

        `deliveries[i]` are the outbox rows for `transitions[i]`. Returns the transitions
        with their database ids. Only services whose tracked state changed are written.
        """
        stored: list[Transition] = []
        with self.transaction() as db:
            self._write_source(db, source, at, after.health, error, feed)
            for key, track in after.services.items():
                if before.services.get(key) != track:
                    _write_service(db, source, key, track)
            announced = after.announced - before.announced
            for key in announced:
                db.execute(
                    "INSERT OR IGNORE INTO planned_seen (source, key, first_seen) VALUES (?,?,?)",
                    (source, key, ts(at)),
                )
            if announced:
                # Apple lists an event for days, not months: older keys cannot come back.
                db.execute(
                    "DELETE FROM planned_seen WHERE source = ? AND first_seen < ?",
                    (source, ts(at) - PLANNED_MEMORY_SECONDS),
                )
            for transition, entries in zip(transitions, deliveries, strict=True):
                transition_id = _insert_transition(db, transition)
                stored.append(replace(transition, id=transition_id))
                db.executemany(
                    # Plain INSERT: OR IGNORE would also drop a row that breaks NOT NULL.
                    "INSERT INTO outbox (transition_id, subscriber, target_key,"
                    " target_label, created_at, next_attempt_at) VALUES (?,?,?,?,?,?)",
                    [
                        (transition_id, e.subscriber, e.target_key, e.target_label, ts(at), ts(at))
                        for e in entries
                    ],
                )
        return stored

    def _write_source(
        self,
        db: sqlite3.Connection,
        source: str,
        at: datetime,
        health: SourceHealth,
        error: str | None,
        feed: FeedCache | None,
    ) -> None:
        db.execute(
            "INSERT INTO source_state (source, last_poll, last_success, first_failure, down,"
            " last_error) VALUES (?,?,?,?,?,?) ON CONFLICT (source) DO UPDATE SET"
            " last_poll = excluded.last_poll, last_success = excluded.last_success,"
            " first_failure = excluded.first_failure, down = excluded.down,"
            " last_error = excluded.last_error",
            (source, ts(at), ts(health.last_success), ts(health.first_failure), health.down, error),
        )
        if feed is None:
            return
        compressed = None if feed.body is None else zlib.compress(feed.body, 6)
        db.execute(
            "UPDATE source_state SET etag = ?, last_modified = ?, body_hash = ?, body = ?"
            " WHERE source = ?",
            (
                feed.validators.etag,
                feed.validators.last_modified,
                feed.body_hash,
                compressed,
                source,
            ),
        )

    def forget_validators(self, source: str) -> None:
        """After a stored body turned out unusable: make the next fetch unconditional."""
        with self.transaction() as db:
            db.execute(
                "UPDATE source_state SET etag = NULL, last_modified = NULL, body_hash = NULL,"
                " body = NULL WHERE source = ?",
                (source,),
            )

    # -- reading -----------------------------------------------------------------

    def service_states(self) -> list[tuple[str, ServiceTrack]]:
        rows = self._db.execute("SELECT DISTINCT source FROM service_state ORDER BY source")
        result = []
        for (source,) in rows.fetchall():
            track = self.load_track(source)
            result.extend((source, service) for service in track.services.values())
        return result

    def source_statuses(self) -> dict[str, SourceStatus]:
        return {
            row[0]: SourceStatus(row[0], dt(row[1]), dt(row[2]), row[3], bool(row[4]))
            for row in self._db.execute(
                "SELECT source, last_poll, last_success, last_error, down FROM source_state"
            )
        }

    def transitions(
        self, since: datetime | None = None, service: str | None = None, limit: int = 10_000
    ) -> list[Transition]:
        query = f"SELECT {_TRANSITION_COLUMNS} FROM transitions WHERE at >= ?"
        params: list[object] = [ts(since) if since else 0.0]
        if service is not None:
            query += " AND lower(service) = lower(?)"
            params.append(service.strip())
        query += " ORDER BY at, id LIMIT ?"
        params.append(limit)
        return [_transition_from_row(row) for row in self._db.execute(query, params)]

    def size_bytes(self) -> int:
        page_count = self._db.execute("PRAGMA page_count").fetchone()[0]
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return int(page_count * page_size)

    # -- outbox ------------------------------------------------------------------

    def outbox_rows(
        self,
        statuses: Sequence[str] = ("pending", "sending", "dead"),
        due_before: datetime | None = None,
    ) -> list[OutboxRow]:
        marks = ",".join("?" for _ in statuses)
        query = (
            f"SELECT o.id, o.subscriber, o.target_key, o.target_label, o.status, o.attempts,"
            f" o.created_at, o.next_attempt_at, o.sent_at, o.last_error, {_TRANSITION_COLUMNS_T}"
            f" FROM outbox o JOIN transitions t ON t.id = o.transition_id"
            f" WHERE o.status IN ({marks})"
        )
        params: list[object] = list(statuses)
        if due_before is not None:
            query += " AND o.next_attempt_at <= ?"
            params.append(ts(due_before))
        query += " ORDER BY o.next_attempt_at, o.id"
        return [_outbox_from_row(row) for row in self._db.execute(query, params)]

    def claim(self, row_id: int, now: datetime, claimer: str, stale_after: float = 300.0) -> bool:
        """Compare-and-set: True only for the one process that moves the row to `sending`.

        A row left in `sending` by a process that died is claimable again after
        `stale_after` seconds (at-least-once delivery); its `next_attempt_at` says when, so
        that `next_due()` and `outbox_rows(due_before=...)` find it then.
        """
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE outbox SET status = 'sending', claimed_at = ?, claimed_by = ?,"
                " next_attempt_at = ? WHERE id = ?"
                " AND (status = 'pending' OR (status = 'sending' AND claimed_at <= ?))",
                (ts(now), claimer, ts(now) + stale_after, row_id, ts(now) - stale_after),
            )
            return cursor.rowcount == 1

    def mark_sent(self, row_ids: Sequence[int], now: datetime) -> None:
        with self.transaction() as db:
            db.executemany(
                "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE id = ?",
                [(ts(now), row_id) for row_id in row_ids],
            )

    def mark_failed(
        self, row_ids: Sequence[int], error: str, next_attempt: datetime | None, now: datetime
    ) -> None:
        """Back to `pending` with a later attempt time, or `dead` when next_attempt is None."""
        with self.transaction() as db:
            if next_attempt is None:
                db.executemany(
                    "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?,"
                    " claimed_at = NULL, claimed_by = NULL WHERE id = ?",
                    [(error, row_id) for row_id in row_ids],
                )
            else:
                db.executemany(
                    "UPDATE outbox SET status = 'pending', attempts = attempts + 1,"
                    " last_error = ?, next_attempt_at = ?, claimed_at = NULL, claimed_by = NULL"
                    " WHERE id = ?",
                    [(error, ts(next_attempt), row_id) for row_id in row_ids],
                )

    def release(self, row_ids: Sequence[int]) -> None:
        """Give claimed rows back, due again at once (a shutdown interrupted their delivery)."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE outbox SET status = 'pending', next_attempt_at = claimed_at,"
                " claimed_at = NULL, claimed_by = NULL WHERE id = ? AND status = 'sending'",
                [(row_id,) for row_id in row_ids],
            )

    def retry(self, row_id: int | None, now: datetime) -> int:
        """Make pending or dead rows (one, or all when row_id is None) due now."""
        query = (
            "UPDATE outbox SET status = 'pending', next_attempt_at = ?, claimed_at = NULL,"
            " claimed_by = NULL WHERE status IN ('pending', 'dead')"
        )
        params: list[object] = [ts(now)]
        if row_id is not None:
            query += " AND id = ?"
            params.append(row_id)
        with self.transaction() as db:
            return db.execute(query, params).rowcount

    def drop(self, row_id: int) -> int:
        with self.transaction() as db:
            return db.execute(
                "DELETE FROM outbox WHERE id = ? AND status IN ('pending', 'dead')", (row_id,)
            ).rowcount

    def outbox_counts(self) -> dict[str, int]:
        counts = {"pending": 0, "sending": 0, "dead": 0, "sent": 0}
        for status, count in self._db.execute(
            "SELECT status, count(*) FROM outbox GROUP BY status"
        ):
            counts[status] = count
        return counts

    def next_due(self) -> datetime | None:
        """When the earliest waiting row can be delivered: a pending row at its next attempt,
        a row left `sending` by a process that died when its claim goes stale (see `claim`)."""
        row = self._db.execute(
            "SELECT min(next_attempt_at) FROM outbox WHERE status IN ('pending', 'sending')"
        ).fetchone()
        return dt(row[0]) if row else None


# -- helpers -----------------------------------------------------------------------

_TRANSITION_COLUMNS = (
    "id, source, service, kind, from_state, to_state, at, since, event, redirect_url"
)
_TRANSITION_COLUMNS_T = ", ".join(f"t.{c.strip()}" for c in _TRANSITION_COLUMNS.split(","))


def _transition_from_row(row: Sequence[object]) -> Transition:
    row_id, source, service, kind, from_state, to_state, at, since, event, redirect_url = row
    return Transition(
        id=int(row_id),  # type: ignore[arg-type]
        source=str(source),
        service=None if service is None else str(service),
        kind=Kind(kind),
        from_state=None if from_state is None else State(from_state),
        to_state=State(to_state),
        at=dt(at),  # type: ignore[arg-type]
        since=dt(since),  # type: ignore[arg-type]
        event=event_from_text(event),  # type: ignore[arg-type]
        redirect_url=None if redirect_url is None else str(redirect_url),
    )


def _outbox_from_row(row: Sequence[object]) -> OutboxRow:
    (row_id, subscriber, key, label, status, attempts, created, next_at, sent, error) = row[:10]
    return OutboxRow(
        id=int(row_id),  # type: ignore[arg-type]
        transition=_transition_from_row(row[10:]),
        subscriber=str(subscriber),
        target_key=str(key),
        target_label=str(label),
        status=str(status),
        attempts=int(attempts),  # type: ignore[arg-type]
        created_at=dt(created),  # type: ignore[arg-type]
        next_attempt_at=dt(next_at),  # type: ignore[arg-type]
        sent_at=dt(sent),  # type: ignore[arg-type]
        last_error=None if error is None else str(error),
    )


def _insert_transition(db: sqlite3.Connection, transition: Transition) -> int:
    cursor = db.execute(
        "INSERT INTO transitions (source, service, kind, from_state, to_state, at, since,"
        " event, redirect_url) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            transition.source,
            transition.service,
            str(transition.kind),
            None if transition.from_state is None else str(transition.from_state),
            str(transition.to_state),
            ts(transition.at),
            ts(transition.since),
            event_to_text(transition.event),
            transition.redirect_url,
        ),
    )
    return int(cursor.lastrowid or 0)


def _write_service(db: sqlite3.Connection, source: str, key: str, track: ServiceTrack) -> None:
    db.execute(
        "INSERT OR REPLACE INTO service_state (source, service_key, service, state, since,"
        " cause, candidate, candidate_since, streak) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            source,
            key,
            track.service,
            None if track.state is None else str(track.state),
            ts(track.since),
            event_to_text(track.cause),
            None if track.candidate is None else str(track.candidate),
            ts(track.candidate_since),
            track.streak,
        ),
    )


def _ensure_dir(state_dir: Path) -> None:
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise StoreUnwritable(
            f"cannot create the state directory {state_dir}: {error.strerror}; "
            "set state_dir (or STATUSWATCH_STATE_DIR) to a folder this user can write"
        ) from None
    if not os.access(state_dir, os.W_OK | os.X_OK):
        raise StoreUnwritable(
            f"the state directory {state_dir} is not writable by this user; "
            "fix its permissions or set state_dir (or STATUSWATCH_STATE_DIR) elsewhere"
        )


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        # Keep the WAL small while a daemon holds the database open: checkpoint every 100
        # pages (SQLite's default, 1000, leaves a 4 MB -wal file beside a 60 KB database),
        # and shrink it back after a large transaction such as a big fan-out.
        connection.execute("PRAGMA wal_autocheckpoint = 100")
        connection.execute("PRAGMA journal_size_limit = 1048576")
        # A daemon's working set is a few pages (source and service rows, the outbox index);
        # SQLite's default 2 MB page cache would slowly fill with cold history instead.
        connection.execute("PRAGMA cache_size = -512")
        connection.execute("PRAGMA foreign_keys = ON")
        if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("database disk image is malformed")
        _migrate(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def _migrate(connection: sqlite3.Connection) -> None:
    """Apply every schema step above the file's `user_version`, each in one transaction."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreUnwritable(
            f"the database was written by a newer statuswatch (schema {version}, this one "
            f"knows {SCHEMA_VERSION}); upgrade statuswatch or use another state_dir"
        )
    for step in range(version, SCHEMA_VERSION):
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA[step].split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {step + 1}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


def _is_corrupt(error: sqlite3.DatabaseError) -> bool:
    text = str(error).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _is_locked(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def _translate(error: sqlite3.OperationalError, path: Path) -> StoreError:
    if _is_locked(error):
        return StoreLocked(f"the database {path} stayed locked by another process; try again")
    if "readonly" in str(error).lower() or "read-only" in str(error).lower():
        return StoreUnwritable(f"the database {path} is read-only for this user")
    return StoreError(f"the database {path} failed: {error}")


def _move_aside(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.rename(aside)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(aside.with_name(aside.name + suffix))
    return aside
