"""Two `statuswatch run` nodes on one PostgreSQL: the leader dies again and again and
nothing is lost, recorded twice or skipped (DESIGN §4, §5; the harness is
tests/failover.py, the full run with 20+ kills and failover times is bench/pg_bench.py)."""

from __future__ import annotations

from pathlib import Path

from tests.failover import Event, _judge, run_failover
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


def test_a_duplicate_is_explained_only_by_a_death_that_overlaps_its_deliveries() -> None:
    kind, state, at = "recovered", "available", 1_000.0
    key = f"{kind}|{state}|1970-01-01T00:16:40Z"
    # SIGKILL asked for at 10.00 and done at 10.05: the first copy reached the sink at 10.02,
    # after the kill was asked for but before the process was gone; the second once stale.
    kill = Event(at=10.00, what="kill", pid=1, done=10.05)
    report = _judge([(kind, state, at)], [(10.02, key), (12.0, key)], [kill], 0)
    assert report.problems == [] and set(report.explained) == {key}
    # The same two copies with the only death long before them: nothing explains them.
    early = Event(at=5.00, what="terminate", pid=1, done=5.10)
    report = _judge([(kind, state, at)], [(10.02, key), (12.0, key)], [early], 0)
    assert report.problems == [
        f"duplicate {key} with no death between its deliveries "
        "(copies at 10.020, 12.000; deaths: terminate 5.000-5.100)"
    ]
