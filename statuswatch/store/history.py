"""Transitions: written once with their poll, read by `history`, the web surface and the
outbox (each outbox row joins its transition)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from statuswatch.model import Kind, State, Transition
from statuswatch.store.backend import UNDECODABLE, Backend
from statuswatch.store.errors import StoreError
from statuswatch.store.records import dt, event_from_text, event_to_text, ts
from statuswatch.store.sql import Sql

TRANSITION_COLUMNS = (
    "id, source, service, kind, from_state, to_state, at, since, event, redirect_url"
)
TRANSITION_COLUMNS_T = ", ".join(f"t.{c.strip()}" for c in TRANSITION_COLUMNS.split(","))


def transition_from_row(row: Sequence[object]) -> Transition:
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


def insert_transition(db: Sql, transition: Transition) -> int:
    row = db.execute(
        "INSERT INTO transitions (source, service, kind, from_state, to_state, at, since,"
        " event, redirect_url) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
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
    ).fetchone()
    if row is None:  # RETURNING yields the row it inserted; anything else is a broken driver
        raise StoreError("the database did not return the id of a new transition")
    return int(row[0])


class HistoryMixin(Backend):
    def transitions(
        self, since: datetime | None = None, service: str | None = None, limit: int = 10_000
    ) -> list[Transition]:
        query = f"SELECT {TRANSITION_COLUMNS} FROM transitions WHERE at >= ?"
        params: list[object] = [ts(since) if since else 0.0]
        if service is not None:
            query += " AND lower(service) = lower(?)"
            params.append(service.strip())
        query += " ORDER BY at, id LIMIT ?"
        params.append(limit)
        result = []
        for row in self._reader().execute(query, params):
            try:
                result.append(transition_from_row(row))
            except UNDECODABLE as error:
                self._undecodable(f"transition {row[0]}", error)
        return result
