"""The small slice of DB-API that the store's job modules use, so one SQL text serves
SQLite and PostgreSQL.

Queries are written with `?` placeholders and SQL both engines accept (`ON CONFLICT`,
`RETURNING`, no `INSERT OR ...`); a backend adapts the placeholders if it must.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Sequence[Any] | None: ...

    def fetchall(self) -> list[Sequence[Any]]: ...

    def __iter__(self) -> Iterator[Sequence[Any]]: ...


class Sql(Protocol):
    """A connection inside (or, for reads, outside) a transaction."""

    def execute(self, query: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, query: str, params: Iterable[Sequence[Any]]) -> Any: ...


class FetchedRows:
    """A cursor whose rows were fetched at once: an error of the disk or the server
    surfaces inside `execute`, and the connection is free again when it returns."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Sequence[Any]], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Sequence[Any] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Sequence[Any]]:
        return list(self.rows)

    def __iter__(self) -> Iterator[Sequence[Any]]:
        return iter(self.rows)
