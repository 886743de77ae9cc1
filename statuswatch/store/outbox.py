"""The persistent outbox (DESIGN §4): rows queued with their transition, claimed with a
compare-and-set, marked sent only after the channel accepted them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from statuswatch.store.backend import UNDECODABLE, Backend
from statuswatch.store.history import TRANSITION_COLUMNS_T, transition_from_row
from statuswatch.store.records import OutboxEntry, OutboxRow, dt, payload_from_text, ts
from statuswatch.store.sql import Sql


def queue_rows(db: Sql, transition_id: int, entries: Sequence[OutboxEntry], at: datetime) -> None:
    """Inside the poll's transaction: one pending row per (subscriber, target)."""
    db.executemany(
        # Plain INSERT: ignoring conflicts would also drop a row that breaks NOT NULL.
        "INSERT INTO outbox (transition_id, subscriber, target_key,"
        " target_label, created_at, next_attempt_at) VALUES (?,?,?,?,?,?)",
        [
            (transition_id, e.subscriber, e.target_key, e.target_label, ts(at), ts(at))
            for e in entries
        ],
    )


#: The outbox columns `outbox_from_row` reads, before the joined transition's.
OUTBOX_COLUMNS_O = (
    "o.id, o.subscriber, o.target_key, o.target_label, o.status, o.attempts, o.created_at,"
    " o.next_attempt_at, o.sent_at, o.last_error, o.kind, o.payload, o.policy_key,"
    " o.held_until, o.silence_id"
)


def outbox_from_row(row: Sequence[object]) -> OutboxRow:
    (row_id, subscriber, key, label, status, attempts, created, next_at, sent, error) = row[:10]
    kind, payload, policy_key, held_until, silence_id = row[10:15]
    extra: dict[str, object] = {}
    if payload is not None:
        # A policy message: its transition travels in the payload (DESIGN §4a).
        transition, extra = payload_from_text(str(payload))
        if row[15] is not None:
            transition = replace(transition, id=int(row[15]))  # type: ignore[arg-type]
    else:
        transition = transition_from_row(row[15:])
    return OutboxRow(
        id=int(row_id),  # type: ignore[arg-type]
        transition=transition,
        kind=str(kind) if kind is not None else str(transition.kind),
        extra=extra,
        policy_key=None if policy_key is None else str(policy_key),
        held_until=dt(held_until),  # type: ignore[arg-type]
        silence_id=None if silence_id is None else int(silence_id),  # type: ignore[arg-type]
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


CLAIM_CHUNK = 500  # rows claimed per transaction by claim_many()


class OutboxMixin(Backend):
    def outbox_rows(
        self,
        statuses: Sequence[str] = ("pending", "sending", "dead"),
        due_before: datetime | None = None,
    ) -> list[OutboxRow]:
        marks = ",".join("?" for _ in statuses)
        where = f"o.status IN ({marks})"
        params: list[object] = list(statuses)
        if due_before is not None:
            where += " AND o.next_attempt_at <= ?"
            params.append(ts(due_before))
        return self._outbox_select(where + " ORDER BY o.next_attempt_at, o.id", params)

    def outbox_row(self, row_id: int) -> OutboxRow | None:
        """One row, whatever its status (`sent` included); None if there is no such row."""
        rows = self._outbox_select("o.id = ?", [row_id])
        return rows[0] if rows else None

    def _outbox_select(self, where: str, params: list[object]) -> list[OutboxRow]:
        query = (
            f"SELECT {OUTBOX_COLUMNS_O}, {TRANSITION_COLUMNS_T}"
            f" FROM outbox o LEFT JOIN transitions t ON t.id = o.transition_id WHERE {where}"
        )
        result = []
        for row in self._reader().execute(query, params):
            try:
                result.append(outbox_from_row(row))
            except UNDECODABLE as error:
                # Left where it is (never sent, never dropped): someone can fix the row.
                what = f"outbox row {row[0]}" + (f" (transition {row[15]})" if row[15] else "")
                self._undecodable(what, error)
        return result

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

    def claim_many(
        self, row_ids: Sequence[int], now: datetime, claimer: str, stale_after: float = 300.0
    ) -> list[int]:
        """`claim()` for many rows, one transaction per chunk instead of one per row (a
        fan-out to thousands of targets), and one statement per chunk: each row gets the
        same compare-and-set as in claim() (the WHERE holds per row, inside one BEGIN
        IMMEDIATE), so each is won by exactly one process; returns the ids won."""
        won: list[int] = []
        for start in range(0, len(row_ids), CLAIM_CHUNK):
            chunk = [int(row_id) for row_id in row_ids[start : start + CLAIM_CHUNK]]
            marks = ",".join("?" * len(chunk))
            with self.transaction() as db:
                rows = db.execute(
                    "UPDATE outbox SET status = 'sending', claimed_at = ?, claimed_by = ?,"
                    f" next_attempt_at = ? WHERE id IN ({marks}) AND (status = 'pending'"
                    " OR (status = 'sending' AND claimed_at <= ?)) RETURNING id",
                    (ts(now), claimer, ts(now) + stale_after, *chunk, ts(now) - stale_after),  # type: ignore[operator]
                ).fetchall()
            won.extend(int(row[0]) for row in rows)
        return won

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

    def sending_claims(self) -> dict[int, str]:
        """Row id -> who claimed it, for every row in `sending` (see notify/claims.py)."""
        rows = self._reader().execute(
            "SELECT id, claimed_by FROM outbox WHERE status = 'sending' AND claimed_by IS NOT NULL"
        )
        return {int(row_id): str(by) for row_id, by in rows}  # type: ignore[call-overload]

    def release_claim(self, row_id: int, claimer: str) -> bool:
        """Compare-and-set: a row still claimed by `claimer` (a process that is gone) is
        pending again and due at once; False if anyone else moved it meanwhile."""
        with self.transaction() as db:
            return (
                db.execute(
                    "UPDATE outbox SET status = 'pending', next_attempt_at = claimed_at,"
                    " claimed_at = NULL, claimed_by = NULL"
                    " WHERE id = ? AND status = 'sending' AND claimed_by = ?",
                    (row_id, claimer),
                ).rowcount
                == 1
            )

    def outbox_status(self, row_id: int) -> str | None:
        """The status of one row (`sent` included), or None if there is no such row."""
        row = self._reader().execute("SELECT status FROM outbox WHERE id = ?", (row_id,)).fetchone()
        return None if row is None else str(row[0])

    def dead_by_subscriber(self) -> dict[str, int]:
        """Given-up rows nobody retried or dropped, per subscriber (DESIGN §4: `check`
        exits 79, `--nagios` says CRITICAL, the daemon's status line and /metrics show it)."""
        rows = self._reader().execute(
            "SELECT subscriber, count(*) FROM outbox WHERE status = 'dead' GROUP BY subscriber"
        )
        return {str(name): int(count) for name, count in rows}  # type: ignore[call-overload]

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

    def pending_count(self) -> int:
        """Rows waiting to be sent. The daemon's status line asks after every poll: unlike
        outbox_counts(), whose GROUP BY reads every row ever queued, this reads only the
        pending ones (the outbox_due index)."""
        row = (
            self._reader()
            .execute("SELECT count(*) FROM outbox WHERE status = 'pending'")
            .fetchone()
        )
        return int(row[0]) if row else 0  # type: ignore[index]

    def outbox_counts(self) -> dict[str, int]:
        """Rows per status. The GROUP BY reads every row ever queued (about 40 ms a million
        rows on SQLite), and the web surface asks on every request: on SQLite the counts are
        kept until this store writes or another connection commits (see Backend._memo)."""
        counter = self.change_counter()
        remembered = self._memo.get(("outbox", "counts"))
        if remembered is not None and remembered[0] == counter:
            return dict(remembered[1])  # type: ignore[call-overload]
        counts = {"pending": 0, "sending": 0, "dead": 0, "sent": 0, "silenced": 0}
        for status, count in self._reader().execute(
            "SELECT status, count(*) FROM outbox GROUP BY status"
        ):
            counts[status] = int(count)
        if counter is not None:
            self._memo[("outbox", "counts")] = (counter, dict(counts))
        return counts

    def next_due(self) -> datetime | None:
        """When the earliest waiting row can be delivered: a pending row at its next attempt,
        a row left `sending` by a process that died when its claim goes stale (see `claim`)."""
        row = (
            self._reader()
            .execute(
                "SELECT min(next_attempt_at) FROM outbox WHERE status IN ('pending', 'sending')"
            )
            .fetchone()
        )
        return dt(row[0]) if row else None
