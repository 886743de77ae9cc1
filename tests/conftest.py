"""Shared fixtures. The real captures of Apple's feed live in tests/data/feeds (a copy of
shared/feeds, see its SOURCES.md), so a fresh clone tests against them offline."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.pgcluster import PgCluster

FEEDS = Path(__file__).parent / "data" / "feeds"
HISTORY = FEEDS / "history"
SAMPLES = FEEDS / "samples"
EXPECTED = FEEDS / "expected"


@pytest.fixture
def feeds() -> Path:
    return FEEDS


# -- a real PostgreSQL for the store contract and the two-node tests (issue 13) ----------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway cluster per xdist worker (session scope is per worker), started
    once; each test then gets a database of its own (`pg_dsn`, ~0.1 s)."""
    from tests.pgcluster import PgCluster, PgUnavailable

    try:
        cluster = PgCluster.start()
    except PgUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a PostgreSQL server: {error}")
        pytest.skip(str(error))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def pg_worker_db(pg_cluster: PgCluster) -> str:
    """One database per worker; tests get schemas in it (CREATE DATABASE takes ~1 s on a
    loaded machine, CREATE SCHEMA a few ms)."""
    pg_cluster.create_database("worker")
    return "worker"


@pytest.fixture
def pg_dsn(pg_cluster: PgCluster, pg_worker_db: str) -> str:
    """A DSN whose search_path is an empty schema of its own (advisory locks are per
    database, so tests that run daemons use `pg_database` instead)."""
    schema = "t_" + uuid.uuid4().hex[:16]
    pg_cluster.admin(f"CREATE SCHEMA {schema}", dbname=pg_worker_db)
    return pg_cluster.dsn(pg_worker_db) + f"?options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_database(pg_cluster: PgCluster) -> str:
    """A DSN of a database of its own (for daemons and leader election)."""
    return pg_cluster.create_database("d_" + uuid.uuid4().hex[:16])


# Files whose tests mostly wait on real daemons, kills and back-off (seconds each, little
# CPU) run first: spread over the xdist workers, their waits overlap the CPU-bound rest of
# the suite instead of trailing it on a two-core machine.
WAITING_FILES = (
    "test_failover.py",
    "test_two_nodes.py",
    "test_daemon.py",
    "test_web_daemon.py",
    "test_daemon_stop.py",
    "test_wait.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in WAITING_FILES)  # stable: order kept within
