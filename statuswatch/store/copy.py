"""`statuswatch store copy`: move a store to another backend (issue 13), typically a
SQLite state directory into PostgreSQL, so a user who started on one machine keeps their
state, history, outbox and HTTP validators when they add a second.

Copies every table both sides have, with the columns both sides have (so a schema step
added later travels without a change here), in one transaction on the target, and only
into an empty target. Ids are kept (outbox rows point at their transitions), and
PostgreSQL's identity sequences are moved past them.
"""

from __future__ import annotations

from typing import Any

from statuswatch.store.errors import StoreError
from statuswatch.store.interface import Store
from statuswatch.store.sql import Sql

#: Parents before children (outbox rows reference transitions); tables a later schema
#: step adds are copied after these, in name order.
FIRST = ("source_state", "service_state", "planned_seen", "transitions", "outbox")
#: Bookkeeping of one backend that means nothing to the other.
NOT_COPIED = frozenset({"statuswatch_schema", "leadership", "sqlite_sequence"})


class CopyRefused(StoreError):
    """The target already holds a store: copying would mix two histories."""


def _tables(store: Store) -> list[str]:
    db = store._reader()
    if store.shared:
        rows = db.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        ).fetchall()
    else:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return [str(name) for (name,) in rows if str(name) not in NOT_COPIED]


def _columns(store: Store, table: str) -> list[str]:
    db = store._reader()
    if store.shared:
        rows = db.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        return [str(name) for (name,) in rows]
    return [str(row[1]) for row in db.execute(f"PRAGMA table_info({table})").fetchall()]


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


def copy_store(source: Store, target: Store) -> dict[str, int]:
    """Copy every shared table; returns rows copied per table."""
    source_tables, target_tables = set(_tables(source)), set(_tables(target))
    common = [t for t in FIRST if t in source_tables and t in target_tables]
    common += sorted((source_tables & target_tables) - set(FIRST))
    skipped = sorted(source_tables - target_tables)
    if skipped:
        raise CopyRefused(
            f"{target.location} has no table {', '.join(skipped)} that {source.location} "
            "has; upgrade statuswatch where the target was created"
        )
    for table in common:
        row = target._reader().execute(f"SELECT count(*) FROM {table}").fetchone()
        if row and row[0]:
            raise CopyRefused(
                f"{target.location} already holds a statuswatch store ({row[0]} row(s) in "
                f"{table}); copy only into an empty database"
            )
    copied: dict[str, int] = {}
    with target.transaction() as db:
        for table in common:
            theirs = set(_columns(target, table))
            columns = [c for c in _columns(source, table) if c in theirs]
            names = ", ".join(columns)
            rows = source._reader().execute(f"SELECT {names} FROM {table}").fetchall()
            marks = ", ".join("?" for _ in columns)
            db.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks})",
                [tuple(_plain(value) for value in row) for row in rows],
            )
            copied[table] = len(rows)
            if target.shared and "id" in columns:
                _move_identity(db, table)
    return copied


def _move_identity(db: Sql, table: str) -> None:
    """The next id PostgreSQL hands out must follow the copied ones."""
    db.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
        f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
    )


def table_counts(store: Store) -> dict[str, int]:
    """Rows per table, for `store copy`'s summary and its round-trip test."""
    counts = {}
    for table in _tables(store):
        row = store._reader().execute(f"SELECT count(*) FROM {table}").fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts
