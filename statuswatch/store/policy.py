"""DESIGN §4a in the store: policy messages queued at most once (by key), rows held by
quiet hours or silenced, and the silences themselves. Portable SQL for both backends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from statuswatch.store.backend import Backend
from statuswatch.store.records import PolicyEntry, dt, payload_to_text, ts

#: `silence list` also shows silences that ended within this long.
RECENT_SECONDS = 7 * 86400.0
#: Policy keys are forgotten after this long, so the table grows with time, not forever.
#: Safe: a key is only ever asked for again while its message is due (a reminder's
#: current period, at most `repeat_every` = 30 d; an offset before a start, at most
#: `remind_before` = 30 d), well inside this.
KEY_MEMORY_SECONDS = 90 * 86400.0


class Silence(NamedTuple):
    """A durable mute (Alertmanager's idea): rows it matches become `silenced`."""

    id: int
    service: str | None
    subscriber: str | None
    kind: str | None
    starts_at: datetime
    ends_at: datetime
    comment: str | None
    created_at: datetime
    created_by: str | None
    expired_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.expired_at is None and self.starts_at <= now < self.ends_at

    @property
    def ended_at(self) -> datetime:
        return self.expired_at if self.expired_at is not None else self.ends_at


_SILENCE_COLUMNS = (
    "id, service, subscriber, kind, starts_at, ends_at, comment, created_at, created_by, expired_at"
)


def _silence(row: Sequence[object]) -> Silence:
    (row_id, service, subscriber, kind, starts, ends, comment, created, by, expired) = row
    return Silence(
        id=int(row_id),  # type: ignore[arg-type]
        service=None if service is None else str(service),
        subscriber=None if subscriber is None else str(subscriber),
        kind=None if kind is None else str(kind),
        starts_at=dt(starts),  # type: ignore[arg-type]
        ends_at=dt(ends),  # type: ignore[arg-type]
        comment=None if comment is None else str(comment),
        created_at=dt(created),  # type: ignore[arg-type]
        created_by=None if by is None else str(by),
        expired_at=dt(expired),  # type: ignore[arg-type]
    )


class PolicyMixin(Backend):
    # -- policy messages ---------------------------------------------------------------

    def queue_policy(self, entries: Sequence[PolicyEntry], at: datetime) -> int:
        """Queue each entry whose key was never queued before; returns how many were.

        The key is claimed in `policy_keys` in the same transaction as the row is
        inserted, so a restart, a concurrent run or a second node cannot queue it again
        (and a row dropped with `outbox drop` does not come back).
        """
        queued = 0
        if not entries:
            return 0
        with self.transaction() as db:
            for entry in entries:
                claimed = db.execute(
                    "INSERT INTO policy_keys (key, created_at) VALUES (?, ?)"
                    " ON CONFLICT (key) DO NOTHING RETURNING key",
                    (entry.key, ts(at)),
                ).fetchone()
                if claimed is None:
                    continue
                db.execute(
                    "INSERT INTO outbox (transition_id, subscriber, target_key, target_label,"
                    " created_at, next_attempt_at, kind, policy_key, payload)"
                    " VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        entry.transition_id,
                        entry.subscriber,
                        entry.target_key,
                        entry.target_label,
                        ts(at),
                        ts(at),
                        str(entry.transition.kind),
                        entry.key,
                        payload_to_text(entry.transition, entry.extra),
                    ),
                )
                queued += 1
            if queued:
                db.execute(
                    "DELETE FROM policy_keys WHERE created_at < ?",
                    (ts(at) - KEY_MEMORY_SECONDS,),  # type: ignore[operator]
                )
        return queued

    def policy_keys_with_prefix(self, prefix: str) -> set[str]:
        """Keys already queued that start with `prefix` (for tests and `outbox`)."""
        rows = self._reader().execute(
            "SELECT key FROM policy_keys WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        )
        return {str(key) for (key,) in rows}

    def planned_first_seen(self, source: str) -> dict[str, datetime]:
        """tracker.planned_key() -> when that planned event was first seen."""
        rows = self._reader().execute(
            "SELECT key, first_seen FROM planned_seen WHERE source = ?", (source,)
        )
        return {str(key): dt(seen) for key, seen in rows}  # type: ignore[misc]

    # -- quiet hours and silences on claimed rows ---------------------------------------

    def hold(self, row_ids: Sequence[int], until: datetime) -> None:
        """Quiet hours: claimed rows go back to `pending`, due at the window's end."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?, held_until = ?,"
                " claimed_at = NULL, claimed_by = NULL WHERE id = ?",
                [(ts(until), ts(until), row_id) for row_id in row_ids],
            )

    def mark_silenced(self, row_ids: Sequence[int], silence_id: int, now: datetime) -> None:
        """Never sent, still listed by `outbox` and `history` (DESIGN §4a)."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE outbox SET status = 'silenced', silence_id = ?, claimed_at = NULL,"
                " claimed_by = NULL, sent_at = NULL, last_error = NULL WHERE id = ?",
                [(silence_id, row_id) for row_id in row_ids],
            )

    # -- silences ----------------------------------------------------------------------

    def add_silence(
        self,
        *,
        service: str | None,
        subscriber: str | None,
        kind: str | None,
        starts_at: datetime,
        ends_at: datetime,
        comment: str | None,
        created_at: datetime,
        created_by: str | None,
    ) -> int:
        with self.transaction() as db:
            row = db.execute(
                "INSERT INTO silences (service, subscriber, kind, starts_at, ends_at, comment,"
                " created_at, created_by) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                (
                    service,
                    subscriber,
                    kind,
                    ts(starts_at),
                    ts(ends_at),
                    comment,
                    ts(created_at),
                    created_by,
                ),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def silences(self, now: datetime, recent: float = RECENT_SECONDS) -> list[Silence]:
        """Active ones, and those that ended within `recent` seconds, newest end last."""
        rows = self._reader().execute(
            f"SELECT {_SILENCE_COLUMNS} FROM silences"
            " WHERE coalesce(expired_at, ends_at) >= ? ORDER BY starts_at, id",
            (ts(now) - recent,),  # type: ignore[operator]
        )
        return [_silence(row) for row in rows]

    def active_silences(self, now: datetime) -> list[Silence]:
        """Read at every delivery, so a silence added while a daemon runs counts at once."""
        rows = self._reader().execute(
            f"SELECT {_SILENCE_COLUMNS} FROM silences"
            " WHERE expired_at IS NULL AND starts_at <= ? AND ends_at > ? ORDER BY id",
            (ts(now), ts(now)),
        )
        return [_silence(row) for row in rows]

    def silenced_counts(self) -> dict[int, int]:
        """How many outbox rows each silence kept from being sent."""
        rows = self._reader().execute(
            "SELECT silence_id, count(*) FROM outbox WHERE status = 'silenced'"
            " AND silence_id IS NOT NULL GROUP BY silence_id"
        )
        return {int(silence): int(count) for silence, count in rows}

    def silenced_subscribers(self) -> dict[int, list[str]]:
        """Transition id -> the subscribers whose rows for it a silence kept back."""
        result: dict[int, list[str]] = {}
        for transition_id, subscriber in self._reader().execute(
            "SELECT DISTINCT transition_id, subscriber FROM outbox WHERE status = 'silenced'"
            " AND transition_id IS NOT NULL ORDER BY transition_id, subscriber"
        ):
            result.setdefault(int(transition_id), []).append(str(subscriber))
        return result

    def expire_silence(self, silence_id: int, now: datetime) -> bool:
        """End a silence now; False if there is no such silence or it had already ended."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE silences SET expired_at = ? WHERE id = ? AND expired_at IS NULL"
                " AND ends_at > ?",
                (ts(now), silence_id, ts(now)),
            )
            return cursor.rowcount == 1
