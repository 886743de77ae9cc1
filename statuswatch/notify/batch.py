"""Batched outbox writes for a fan-out (one transition to thousands of targets).

Recording each claim and each send in its own transaction costs two commits per message,
and those commits wait for the GIL against apprise's sender threads. `Claims` claims the
rows of the groups that got a sending slot at about the same time in one transaction
(each row still its own compare-and-set, and claimed only when its send can start, so a
claim never goes stale while queued); `SentMarks` records the sends that finish close
together in one transaction. Each row is still marked sent only
after its own channel accepted it, and the caller waits until its mark is committed, so
the DESIGN §4 guarantee stays per row: a process killed before that commit re-sends just
those rows (the one duplicate allowed), never loses one and never marks an unsent row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from statuswatch.store import Store

#: How long a finished send waits for others to share its commit. It only widens the
#: window in which a killed process re-sends a message already accepted, by this much.
GATHER_SECONDS = 0.02


class SentMarks:
    """`await marks.mark(ids)`: returns once those rows are committed as sent (or raises
    what the database raised, for the caller's retry)."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock
        self._waiting: list[tuple[list[int], asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def mark(self, row_ids: list[int]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row_ids, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        await asyncio.sleep(GATHER_SECONDS)
        while self._waiting:
            batch, self._waiting = self._waiting, []
            ids = [row_id for row_ids, _ in batch for row_id in row_ids]
            try:
                self.store.mark_sent(ids, self.clock())
            except Exception as error:  # each waiter retries (or gives up) on its own
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)


class Claims:
    """`await claims.claim(ids)`: the ids of those rows this process won (claim_many),
    gathered with the other groups that asked within GATHER_SECONDS."""

    def __init__(self, store: Store, clock: Callable[[], datetime], claimer: str, stale: float):
        self.store = store
        self.clock = clock
        self.claimer = claimer
        self.stale = stale
        self._waiting: list[tuple[list[int], asyncio.Future[set[int]]]] = []
        self._flushing: asyncio.Task[Any] | None = None

    async def claim(self, row_ids: list[int]) -> set[int]:
        future: asyncio.Future[set[int]] = asyncio.get_running_loop().create_future()
        self._waiting.append((row_ids, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(GATHER_SECONDS)
        while self._waiting:
            batch, self._waiting = self._waiting, []
            ids = [row_id for row_ids, _ in batch for row_id in row_ids]
            try:
                won = set(self.store.claim_many(ids, self.clock(), self.claimer, self.stale))
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for row_ids, future in batch:
                    if not future.done():
                        future.set_result(won.intersection(row_ids))
