"""notify/batch.py: sends that finish together are recorded sent in one transaction, and
each caller returns only once its own rows are committed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from statuswatch.notify.batch import SentMarks

NOW = datetime(2025, 6, 14, 21, 20, tzinfo=UTC)


class FakeStore:
    def __init__(self, fail: int = 0) -> None:
        self.commits: list[list[int]] = []
        self.fail = fail

    def mark_sent(self, row_ids: list[int], now: datetime) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database is locked")
        self.commits.append(list(row_ids))


def test_concurrent_marks_share_one_commit_and_each_waits_for_it() -> None:
    store = FakeStore()
    marks = SentMarks(store, lambda: NOW)  # type: ignore[arg-type]
    returned: list[int] = []

    async def one(row_id: int) -> None:
        await marks.mark([row_id])
        assert any(row_id in commit for commit in store.commits)  # committed before return
        returned.append(row_id)

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(50)))
        await one(99)  # later: a commit of its own

    asyncio.run(main())
    assert sorted(returned) == [*range(50), 99]
    assert store.commits == [list(range(50)), [99]]


def test_a_failed_commit_reaches_every_waiter_and_a_retry_succeeds() -> None:
    store = FakeStore(fail=1)
    marks = SentMarks(store, lambda: NOW)  # type: ignore[arg-type]
    errors: list[Any] = []

    async def one(row_id: int) -> None:
        try:
            await marks.mark([row_id])
        except RuntimeError as error:
            errors.append(error)
            await marks.mark([row_id])  # the caller's retry

    async def main() -> None:
        await asyncio.gather(one(1), one(2))

    asyncio.run(main())
    assert len(errors) == 2
    assert sorted(i for commit in store.commits for i in commit) == [1, 2]


def test_nothing_is_marked_that_was_not_handed_over() -> None:
    store = FakeStore()
    marks = SentMarks(store, lambda: NOW)  # type: ignore[arg-type]
    asyncio.run(marks.mark([7, 8]))
    assert store.commits == [[7, 8]]
