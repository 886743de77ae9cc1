"""Connecting to PostgreSQL (DESIGN §5 "Two machines"): the connection string with every
round trip bounded, where a DSN points (for messages, never the password), and one sentence
per kind of psycopg failure."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from statuswatch.store.errors import (
    StoreError,
    StoreLocked,
    StoreMisconfigured,
    StoreUnavailable,
    StoreUnwritable,
)

# Every round trip is bounded (DESIGN §5: a hung database must not hang the daemon).
CONNECT_TIMEOUT = 5
_LIBPQ_DEFAULTS = {
    # libpq keyword: (environment variable that overrides it, value)
    "connect_timeout": ("PGCONNECT_TIMEOUT", str(CONNECT_TIMEOUT)),
    "keepalives": (None, "1"),
    "keepalives_idle": (None, "5"),
    "keepalives_interval": (None, "2"),
    "keepalives_count": (None, "3"),
    "tcp_user_timeout": (None, "10000"),
}
# Server side: the same bounds, and the server drops a vanished leader's session (and so
# its lock) within ~11 s even when no FIN or RST ever arrives.
_SESSION_OPTIONS = (
    "-c statement_timeout=15s -c lock_timeout=5s -c idle_in_transaction_session_timeout=60s"
    " -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
)


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def conninfo(dsn: str, *, readonly: bool = False) -> str:
    """The DSN plus our timeouts, unless the DSN or a libpq variable already sets them.
    `readonly`: every session of this process refuses writes (the server enforces it)."""
    try:
        given = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        raise StoreMisconfigured(
            "the database setting is not a valid PostgreSQL connection string; "
            "write it like postgresql://USER:PASSWORD@HOST:5432/DBNAME"
        ) from None
    extra: dict[str, str] = {}
    for key, (env, value) in _LIBPQ_DEFAULTS.items():
        if key not in given and not (env and os.environ.get(env)):
            extra[key] = value
    if "application_name" not in given and not os.environ.get("PGAPPNAME"):
        extra["application_name"] = f"statuswatch {node_name()}"[:63]
    # Ours first: a -c the user wrote (in the DSN or PGOPTIONS) comes later and wins.
    user_options = given.get("options") or os.environ.get("PGOPTIONS") or ""
    ours = _SESSION_OPTIONS + (" -c default_transaction_read_only=on" if readonly else "")
    extra["options"] = f"{ours} {user_options}".strip()
    return make_conninfo(dsn, **extra)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a DSN points, for messages: `host:port/dbname as user`, never the password."""

    host: str
    port: str
    dbname: str
    user: str

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.server}/{self.dbname} as {self.user}"


def describe_target(dsn: str) -> Target:
    try:
        given = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        given = {}
    host = given.get("host") or os.environ.get("PGHOST") or "localhost"
    port = given.get("port") or os.environ.get("PGPORT") or "5432"
    user = given.get("user") or os.environ.get("PGUSER") or _login()
    dbname = given.get("dbname") or os.environ.get("PGDATABASE") or user
    return Target(str(host), str(port), str(dbname), str(user))


def _login() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return "?"


def connect(info: str, where: Target) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(info, autocommit=True)
    except psycopg.Error as error:
        raise translate(error, where) from None


def first_line(error: psycopg.Error) -> str:
    """The telling part of a psycopg error, without the query or libpq's hints."""
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if primary:
        return str(primary)
    # A connection failure: libpq writes one "… failed: REASON" per address it tried.
    lines = [line.strip() for line in str(error).splitlines() if "failed:" in line]
    if lines:
        return lines[-1].rpartition("failed: ")[2] or type(error).__name__
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def translate(error: psycopg.Error, where: Target) -> StoreError:
    """One sentence per kind of failure (README "Two machines", exit codes 69/78/73/75)."""
    state = getattr(error, "sqlstate", None) or ""
    text = str(error)
    lowered = text.lower()
    detail = first_line(error)
    user, dbname = where.user, where.dbname
    if state == "28P01" or "password authentication failed" in lowered:
        return StoreMisconfigured(
            f"PostgreSQL at {where} refused the login of role {user!r}: wrong password or "
            "no such role; fix `database` (or database_file, PGPASSWORD, ~/.pgpass)"
        )
    if state == "3D000" or ("database" in lowered and "does not exist" in lowered):
        return StoreMisconfigured(
            f"PostgreSQL at {where.server} has no database "
            f'{dbname!r}; create it (README, "Two machines") or fix its name in `database`'
        )
    if state.startswith("28") or "no pg_hba.conf entry" in lowered:
        return StoreMisconfigured(
            f"PostgreSQL at {where} does not let this client in ({detail}); "
            "allow it in pg_hba.conf or fix `database`"
        )
    if state == "42501" or isinstance(error, pgerrors.InsufficientPrivilege):
        return StoreMisconfigured(
            f"role {user!r} lacks a privilege statuswatch needs in {where} ({detail}); "
            f'make it the owner of database {dbname!r} (README, "Two machines")'
        )
    if state == "25006":
        return StoreUnwritable(f"PostgreSQL at {where} is read-only for this session ({detail})")
    if state.startswith("53"):
        return StoreUnwritable(
            f"PostgreSQL at {where} is out of resources ({detail}); nothing of this run was "
            "recorded and nothing recorded before was lost: free space and run again"
        )
    if isinstance(error, pgerrors.LockNotAvailable):
        return StoreLocked(f"a row in {where} stayed locked by another node; try again")
    if isinstance(error, pgerrors.QueryCanceled):
        return StoreUnavailable(f"PostgreSQL at {where} did not answer in time ({detail})")
    if isinstance(error, psycopg.OperationalError):
        if "timeout expired" in lowered:
            detail = f"no answer within {CONNECT_TIMEOUT}s"
        return StoreUnavailable(
            f"cannot reach PostgreSQL at {where.server} ({detail}); check that the server runs "
            "and that host and port in `database` are right"
        )
    return StoreError(f"PostgreSQL at {where} failed: {detail}")
