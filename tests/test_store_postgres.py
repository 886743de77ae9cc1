"""What only the PostgreSQL store does (DESIGN §5 "Two machines"): migrations under an
advisory lock, the schema kept in step with SQLite's, fencing of a node whose session
ended, one sentence and a documented exit code for each way the database can refuse us,
a masked DSN everywhere, `store copy`, and `check` without psycopg when not configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from statuswatch import cli
from statuswatch.model import Event, Kind, State, Transition
from statuswatch.sources.http import Validators
from statuswatch.store import (
    FeedCache,
    LeadershipLost,
    OutboxEntry,
    SqliteStore,
    StoreLocked,
    StoreMisconfigured,
    body_hash,
)
from statuswatch.store.copy import _columns, _tables, table_counts
from statuswatch.store.pg_schema import SCHEMA_VERSION
from statuswatch.store.postgres import PostgresStore
from statuswatch.tracker import ServiceTrack, SourceHealth, SourceTrack
from tests.inprocess import run_statuswatch
from tests.peers import FeedServer
from tests.pgcluster import PASSWORD, PgCluster

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2025, 6, 19, 17, 45, 29, tzinfo=UTC)
EVENT = Event(message_id="900001", status_type="Outage", event_status="ongoing")


def _track(state: State) -> SourceTrack:
    service = ServiceTrack(service="Schoolwork", state=state, since=T0, cause=EVENT)
    return SourceTrack(services={"schoolwork": service}, health=SourceHealth(last_success=T0))


def _transition(at: datetime, to_state: State = State.OUTAGE) -> Transition:
    return Transition(
        source="apple",
        service="Schoolwork",
        kind=Kind.OUTAGE if to_state is State.OUTAGE else Kind.RECOVERED,
        from_state=State.AVAILABLE,
        to_state=to_state,
        at=at,
        since=at - timedelta(hours=1),
        event=EVENT,
    )


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("STATUSWATCH_", "PG"))}
    return run_statuswatch(args, env={**base, "PYTHONPATH": str(ROOT), **(env or {})})


def _config(tmp_path: Path, text: str, name: str = "statuswatch.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- schema ------------------------------------------------------------------------------


def test_schema_has_the_same_tables_and_columns_as_sqlite(pg_dsn: str, tmp_path: Path) -> None:
    pg, lite = PostgresStore.open(pg_dsn), SqliteStore.open(tmp_path / "state")
    try:
        assert sorted(_tables(pg)) == sorted(_tables(lite))
        for table in _tables(lite):
            assert _columns(pg, table) == _columns(lite, table), table
    finally:
        pg.close()
        lite.close()


def test_nodes_starting_at_once_on_an_empty_database_migrate_it_once(pg_database: str) -> None:
    results: list[object] = []
    start = threading.Barrier(6)

    def open_one() -> None:
        start.wait()
        try:
            store = PostgresStore.open(pg_database)
            results.append(store.outbox_counts())
            store.close()
        except Exception as error:  # recorded, asserted below
            results.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    counts = {"pending": 0, "sending": 0, "dead": 0, "sent": 0, "silenced": 0}
    assert results == [counts] * 6
    store = PostgresStore.open(pg_database)
    try:
        rows = store._reader().execute("SELECT version FROM statuswatch_schema").fetchall()
        assert [tuple(r) for r in rows] == [(SCHEMA_VERSION,)]
    finally:
        store.close()


def test_a_newer_schema_is_refused(pg_dsn: str) -> None:
    PostgresStore.open(pg_dsn).close()
    store = PostgresStore.open(pg_dsn)
    with store.transaction() as db:
        db.execute("UPDATE statuswatch_schema SET version = ?", (SCHEMA_VERSION + 1,))
    store.close()
    with pytest.raises(StoreMisconfigured, match="newer statuswatch"):
        PostgresStore.open(pg_dsn)


# -- leadership and fencing --------------------------------------------------------------


def test_one_leader_and_the_standby_takes_over_when_its_session_ends(
    pg_database: str, pg_cluster: PgCluster
) -> None:
    first, second = PostgresStore.open(pg_database), PostgresStore.open(pg_database)
    try:
        assert first.try_lead() is True
        assert second.try_lead() is False
        info = second.leader_info()
        assert info.node is not None and info.node.endswith(f":{os.getpid()}")
        assert info.since == first.leader_since and info.epoch == 1
        pg_cluster.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND granted",
            dbname=pg_database.rpartition("/")[2],
        )
        assert first.still_leading() is False
        assert first.leader is False
        assert second.try_lead() is True
        assert second.leader_info().epoch == 2
    finally:
        first.close()
        second.close()


def test_a_node_whose_session_ended_mid_cycle_writes_nothing_of_it(
    pg_database: str, pg_cluster: PgCluster
) -> None:
    leader, other = PostgresStore.open(pg_database), PostgresStore.open(pg_database)
    try:
        assert leader.try_lead()
        with leader.cycle_lock(wait=0):
            # The session is cut while the cycle fetches; another node takes over.
            pg_cluster.admin(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND granted",
                dbname=pg_database.rpartition("/")[2],
            )
            assert other.try_lead()
            with pytest.raises(LeadershipLost, match="wrote nothing"):
                leader.record_poll(
                    "apple",
                    T0,
                    SourceTrack(),
                    _track(State.OUTAGE),
                    [_transition(T0)],
                    [[OutboxEntry("team", "k", "json://127.0.0.1/****")]],
                )
        assert other.transitions() == []
        assert other.outbox_counts()["pending"] == 0
        assert other.load_track("apple") == SourceTrack()
        # It now stands by: its next cycle meets the new leader's lock.
        assert leader.leader is False
        with pytest.raises(StoreLocked, match="holds the poll lock"), leader.cycle_lock(wait=0):
            pass
    finally:
        leader.close()
        other.close()


def test_a_one_shot_cycle_waits_for_no_leader_it_cannot_get(pg_database: str) -> None:
    leader, check = PostgresStore.open(pg_database), PostgresStore.open(pg_database)
    try:
        assert leader.try_lead()
        with pytest.raises(StoreLocked, match="holds the poll lock"), check.cycle_lock(wait=0.2):
            pass
        leader.resign()
        with check.cycle_lock(wait=0.2):
            check.record_poll("apple", T0, SourceTrack(), _track(State.OUTAGE), [], [])
        assert leader.load_track("apple") == _track(State.OUTAGE)
    finally:
        leader.close()
        check.close()


# -- configuration and errors: one sentence, a documented code, never the password -------


@pytest.fixture
def weak_role(pg_cluster: PgCluster) -> str:
    """A login role that owns nothing (and so may not create tables in public)."""
    name = f"weak{os.getpid()}"
    pg_cluster.admin(
        f"DO $$ BEGIN CREATE ROLE {name} LOGIN PASSWORD 'weak-pw-123';"
        " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    return name


@pytest.mark.parametrize(
    ("problem", "code", "words"),
    [
        ("password", 78, "refused the login"),
        ("database", 78, "has no database 'nosuchdb'"),
        ("unreachable", 69, "cannot reach PostgreSQL at 127.0.0.1:"),
        ("privileges", 78, "lacks a privilege"),
    ],
)
def test_each_database_refusal_is_one_sentence_and_a_code(
    problem: str,
    code: int,
    words: str,
    pg_cluster: PgCluster,
    pg_database: str,
    weak_role: str,
    tmp_path: Path,
) -> None:
    dbname = pg_database.rpartition("/")[2]
    dsn = {
        "password": pg_cluster.dsn(dbname, password="wrong-secret-pw"),
        "database": pg_cluster.dsn("nosuchdb"),
        "unreachable": pg_cluster.dsn(dbname).replace(f":{pg_cluster.port}/", ":1/"),
        "privileges": pg_cluster.dsn(dbname, user=weak_role, password="weak-pw-123"),
    }[problem]
    path = _config(tmp_path, f'database = "{dsn}"\n')
    done = _run("--config", path, "status")
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("statuswatch: "), done.stderr
    assert words in lines[0]
    for secret in ("wrong-secret-pw", "weak-pw-123", PASSWORD):
        assert secret not in done.stderr + done.stdout


def test_dsn_from_a_credential_file_works_and_its_password_is_masked(
    pg_database: str, tmp_path: Path
) -> None:
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "statuswatch-dsn").write_text(pg_database + "\n")
    path = _config(tmp_path, 'database_file = "${CREDENTIALS_DIRECTORY}/statuswatch-dsn"\n')
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}
    status = _run("--config", path, "status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["leader"]["node"] is None
    shown = _run("--config", path, "config", "show", env=env)
    assert shown.returncode == 0 and PASSWORD not in shown.stdout
    direct = _config(tmp_path, f'database = "{pg_database}"\n', "direct.toml")
    shown = _run("--config", direct, "config", "show")
    assert "postgresql://postgres:****@127.0.0.1:" in shown.stdout
    assert PASSWORD not in shown.stdout
    missing = _run("--config", path, "status")
    assert missing.returncode == 78 and "CREDENTIALS_DIRECTORY" in missing.stderr


def test_database_and_database_file_together_are_a_config_error(tmp_path: Path) -> None:
    path = _config(tmp_path, 'database = "postgresql://x/y"\ndatabase_file = "/dev/null"\n')
    done = _run("--config", path, "status")
    assert done.returncode == 78 and "either database or database_file" in done.stderr


def test_check_without_a_database_does_not_import_psycopg(tmp_path: Path) -> None:
    feeds = ROOT / "tests/data/feeds/history/consumer"
    with FeedServer() as feed:
        feed.set_body((feeds / "2025-06-19T17-45-29Z.json").read_bytes())
        path = _config(
            tmp_path, f'[[sources]]\nname = "l"\nurl = "{feed.url()}"\nservices = ["Schoolwork"]\n'
        )
        code = (
            "import sys; from statuswatch.cli import main; "
            f"rc = main(['--config', {path!r}, '--state-dir', {str(tmp_path / 's')!r}, 'check']);"
            " print(rc, 'psycopg' in sys.modules)"
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith("STATUSWATCH_")}
        done = subprocess.run(
            [sys.executable, "-c", code],
            env={**base, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.stdout.strip().splitlines()[-1] == "0 False", done.stdout + done.stderr


def test_check_against_postgresql_records_and_status_names_no_leader(
    pg_database: str, tmp_path: Path
) -> None:
    feeds = ROOT / "tests/data/feeds/history/consumer"
    with FeedServer() as feed:
        feed.set_body((feeds / "2025-06-19T17-45-29Z.json").read_bytes())
        path = _config(
            tmp_path,
            f'database = "{pg_database}"\n[[sources]]\nname = "l"\nurl = "{feed.url()}"\n'
            'services = ["Schoolwork"]\n',
        )
        done = _run("--config", path, "check")
        assert done.returncode == 0, done.stderr
        leader = PostgresStore.open(pg_database)
        try:
            assert leader.try_lead()
            busy = _run("--config", path, "check")
            assert busy.returncode == 75 and "holds the poll lock" in busy.stderr
            status = _run("--config", path, "status")
            assert "Schoolwork" in status.stdout and "outage" in status.stdout
            assert f"leader: {leader.leader_info().node}" in status.stdout
        finally:
            leader.close()


# -- store copy --------------------------------------------------------------------------


def _fill(store: SqliteStore) -> None:
    """A store as a few weeks of use leave it: history, every outbox status, a feed body."""
    entries = [OutboxEntry("team", "k1", "json://127.0.0.1/****"), OutboxEntry("me", "k2", "m")]
    before = SourceTrack()
    for day in range(6):
        at = T0 + timedelta(days=day)
        state = State.OUTAGE if day % 2 == 0 else State.AVAILABLE
        after = _track(state)
        feed = FeedCache(
            Validators(etag=f'"e{day}"'), body_hash(b"\x00\xffbody" * 30), b"\x00\xffbody" * 30
        )
        store.record_poll(
            "apple", at, before, after, [_transition(at, state)], [entries], feed=feed
        )
        before = after
    rows = store.outbox_rows(("pending",))
    assert store.claim(rows[0].id, T0, "host:1")
    store.mark_sent([rows[0].id], T0)
    assert store.claim(rows[1].id, T0, "host:1")
    store.mark_failed([rows[1].id], "HTTP 500", None, T0)
    assert store.claim(rows[2].id, T0, "host:1")
    announced = SourceTrack(services=before.services, announced=frozenset({"schoolwork\x1f9"}))
    store.record_poll("apple", T0 + timedelta(days=7), before, announced, [], [])


def test_store_copy_round_trips_a_sqlite_store_through_postgresql(
    pg_database: str, tmp_path: Path
) -> None:
    original = SqliteStore.open(tmp_path / "one")
    _fill(original)
    original.close()
    there = _run(
        "store", "copy", "--from", str(tmp_path / "one" / "statuswatch.db"), "--to", pg_database
    )
    assert there.returncode == 0, there.stderr
    assert "12 outbox" in there.stdout and PASSWORD not in there.stdout
    back = _run("store", "copy", "--from", pg_database, "--to", str(tmp_path / "two"))
    assert back.returncode == 0, back.stderr
    stores = [
        SqliteStore.open(tmp_path / "one"),
        PostgresStore.open(pg_database),
        SqliteStore.open(tmp_path / "two"),
    ]
    try:
        counts = [table_counts(store) for store in stores]
        assert counts[0] == counts[1] == counts[2]
        assert counts[0]["transitions"] == 6 and counts[0]["outbox"] == 12
        histories = [store.transitions() for store in stores]
        assert histories[0] == histories[1] == histories[2]
        outboxes = [store.outbox_rows(("pending", "sending", "dead", "sent")) for store in stores]
        assert outboxes[0] == outboxes[1] == outboxes[2]
        caches = [store.load_feed_cache("apple") for store in stores]
        assert caches[0] == caches[1] == caches[2] and caches[0].body is not None
        tracks = [store.load_track("apple") for store in stores]
        assert tracks[0] == tracks[1] == tracks[2]
        # New rows continue after the copied ids instead of colliding with them.
        stored = stores[1].record_poll(
            "apple", T0 + timedelta(days=9), tracks[1], tracks[1], [_transition(T0)], [[]]
        )
        assert stored[0].id == max(t.id for t in histories[0]) + 1  # type: ignore[operator]
    finally:
        for store in stores:
            store.close()


def test_store_copy_refuses_a_target_that_holds_a_store(pg_database: str, tmp_path: Path) -> None:
    source = SqliteStore.open(tmp_path / "one")
    _fill(source)
    source.close()
    assert (
        _run("store", "copy", "--from", str(tmp_path / "one"), "--to", pg_database).returncode == 0
    )
    again = _run("store", "copy", "--from", str(tmp_path / "one"), "--to", pg_database)
    assert again.returncode == 73 and "already holds a statuswatch store" in again.stderr
    missing = _run("store", "copy", "--from", str(tmp_path / "nothing"), "--to", pg_database)
    assert missing.returncode == 2 and "no statuswatch database" in missing.stderr


def test_cli_classifies_store_errors_with_their_codes() -> None:
    from statuswatch.store import StoreUnavailable

    assert cli.classify(StoreUnavailable("x"))[0] == cli.EXIT_UNAVAILABLE
    assert cli.classify(StoreMisconfigured("x"))[0] == cli.EXIT_CONFIG
    assert cli.classify(LeadershipLost("x"))[0] == cli.EXIT_TEMPFAIL
