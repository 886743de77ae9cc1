"""Two `statuswatch run` nodes on one PostgreSQL: the leader dies again and again and
nothing is lost, recorded twice or skipped (DESIGN §4, §5; the harness is
tests/failover.py, the full run with 20+ kills and failover times is bench/pg_bench.py)."""

from __future__ import annotations

from pathlib import Path

from tests.failover import run_failover
from tests.pgcluster import PgCluster


def test_leader_killed_or_cut_off_loses_no_transition_and_no_delivery(
    pg_cluster: PgCluster, pg_database: str, tmp_path: Path
) -> None:
    dbname = pg_database.rpartition("/")[2]
    report = run_failover(pg_cluster, dbname, tmp_path, kills=5, terminates=2, seed=1302)
    print("\n".join(report.lines()))
    assert report.problems == []
    assert len(report.transitions) == report.rounds + 1
    assert report.lost == []
    # Every duplicate is one that a death between the sink's 200 and "sent" explains.
    assert set(report.duplicates) == set(report.explained)
    assert report.failover_times and max(report.failover_times) < 15
