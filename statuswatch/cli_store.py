"""`statuswatch store copy`: a whole store from SQLite to PostgreSQL (or back)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from statuswatch.cli_common import (
    EXIT_OK,
    UsageError,
)

if TYPE_CHECKING:
    from statuswatch.store import Store


def cmd_store(args: argparse.Namespace) -> int:
    from statuswatch.store.copy import copy_store

    source = _open_location(args.copy_from, must_exist=True)
    try:
        target = _open_location(args.copy_to, must_exist=False)
        try:
            with source.cycle_lock(), target.cycle_lock(wait=0):
                copied = copy_store(source, target)
        finally:
            target.close()
    finally:
        source.close()
    summary = ", ".join(f"{count} {table}" for table, count in copied.items())
    print(f"copied {summary} from {source.location} to {target.location}")
    return EXIT_OK


def _open_location(text: str, *, must_exist: bool) -> Store:
    """`store copy`'s ends: a postgresql:// URL, or a state directory / its database."""
    from statuswatch.store import DB_NAME, SqliteStore

    if text.startswith(("postgresql://", "postgres://")):
        from statuswatch.secrets import redact_dsn
        from statuswatch.store.postgres import PostgresStore

        redact_dsn(text)
        return PostgresStore.open(text)
    path = Path(text).expanduser()
    if path.name == DB_NAME or path.is_file():
        path = path.parent
    if must_exist and not (path / DB_NAME).is_file():
        raise UsageError(f"there is no statuswatch database ({DB_NAME}) in {path}")
    return SqliteStore.open(path)
