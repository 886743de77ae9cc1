"""DESIGN §5 under faults (issue 10, items 5-7): concurrent first starts on an empty state
directory, a full disk, a database file this user cannot write, a row that passes
quick_check but does not decode, and readers that must never change the database.

Each case runs the real `statuswatch` in a subprocess against a local feed server and
asserts the exit code, the one sentence on stderr, no traceback, and that what was
recorded before is intact.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from statuswatch.store import DB_NAME, SCHEMA_VERSION, SqliteStore, StoreError
from tests.peers import FeedServer
from tests.test_cli_check import (
    BUSY_FEED,
    NEXT_FEED,
    Recorded,
    Result,
    Runner,
    baseline,
    feed_server,
    one_sentence,
    recorded,
    sw,
    transitions_in_db,
    write_config,
)

__all__ = ["baseline", "feed_server", "recorded", "sw"]  # fixtures pytest must find here

NOBODY = 65534


def _fingerprint(folder: Path) -> dict[str, str]:
    """Every file of a state directory and a hash of its bytes (readers change none)."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


# -- item 5: N processes starting at once on an empty state directory ---------------------


def _open_at_once(folder: str, barrier: multiprocessing.synchronize.Barrier, out: object) -> None:
    barrier.wait()
    try:
        SqliteStore.open(Path(folder)).close()
        out.put("ok")  # type: ignore[attr-defined]
    except StoreError as error:
        out.put(f"{type(error).__name__}: {error}")  # type: ignore[attr-defined]


def test_twenty_processes_opening_an_empty_state_dir_at_the_same_instant_all_succeed(
    tmp_path: Path,
) -> None:
    """Released by one barrier, so they all read the empty file together (before the fix,
    18 of 20 failed with "table service_state already exists")."""
    context = multiprocessing.get_context("fork")
    outcomes: list[str] = []
    for trial in range(3):
        folder = tmp_path / f"state{trial}"
        barrier = context.Barrier(20)
        out = context.Queue()
        workers = [
            context.Process(target=_open_at_once, args=(str(folder), barrier, out))
            for _ in range(20)
        ]
        for worker in workers:
            worker.start()
        outcomes += [out.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        version = sqlite3.connect(folder / DB_NAME).execute("PRAGMA user_version").fetchone()
        assert version == (SCHEMA_VERSION,)
    assert outcomes == ["ok"] * 60


def test_concurrent_checks_on_an_empty_state_dir_never_fail(
    feed_server: FeedServer, sw: Runner, tmp_path: Path
) -> None:
    feed_server.set_body(BUSY_FEED.read_bytes())
    config = write_config(tmp_path / "c.toml", feed_server.url(), ["iCloud Backup", "Schoolwork"])
    state = tmp_path / "state"
    env = dict(sw.env, STATUSWATCH_NOW="2025-06-19T17:45:29Z")
    command = [sys.executable, "-m", "statuswatch", "check", "--config", str(config)]
    processes = [
        subprocess.Popen(
            [*command, "--state-dir", str(state)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Eight real processes contend for the same first run; the barrier test above
        # races twenty opens at the very same instant.
        for _ in range(8)
    ]
    results = []
    for process in processes:
        _out, err = process.communicate(timeout=120)
        results.append((process.returncode, err))
    for code, err in results:
        assert "Traceback" not in err
        # 0, or 75 "another check is running" (the documented try-again); never 73 or 70.
        assert code in (0, 75), err
        if code == 75:
            assert "another statuswatch check is running" in err, err
    assert sum(code == 0 for code, _ in results) >= 1
    # Exactly one run saw the first observation: one `initial` (Schoolwork's outage).
    assert transitions_in_db(state) == 1


# -- item 6: faults of the disk ------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 384 KB tmpfs: big enough for a state directory, small enough to fill."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=384k,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})"
        if os.environ.get("CI"):
            pytest.fail(f"CI runs as root and must test a full disk: {reason}")
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError:
                pass
    return filler


def test_a_full_disk_is_one_sentence_exit_73_and_loses_nothing(
    recorded: Recorded, small_disk: Path
) -> None:
    state = small_disk / "state"
    shutil.copytree(recorded.state_dir, state)
    recorded.state_dir = state
    before = transitions_in_db(state)
    recorded.server.set_body(NEXT_FEED.read_bytes())  # Schoolwork recovers: a transition
    filler = _fill(small_disk)
    result = recorded.check()
    assert result.code == 73, result
    sentence = one_sentence(result)
    assert str(state) in sentence
    assert "is full; nothing of this run was recorded" in sentence, sentence
    assert "rollback" not in result.err
    filler.unlink()
    assert transitions_in_db(state) == before
    recorded.assert_services_intact()
    # With space again, the change that could not be written is recorded now, once.
    again = recorded.check()
    assert again.code == 0, again
    assert transitions_in_db(state) == before + 1
    assert "Schoolwork: outage → available (recovered" in again.out


def test_the_disk_filling_during_the_write_is_translated(
    recorded: Recorded, small_disk: Path
) -> None:
    """Space for opening (the -wal and -shm files exist) but not for the poll's write."""
    state = small_disk / "state"
    shutil.copytree(recorded.state_dir, state)
    store = SqliteStore.open(state)  # keeps -wal/-shm in place while the disk fills
    try:
        recorded.state_dir = state
        recorded.server.set_body(NEXT_FEED.read_bytes())
        filler = _fill(small_disk)
        result = recorded.check()
        filler.unlink()
    finally:
        store.close()
    assert result.code in (0, 73), result  # 0 only if the WAL already had room for it
    if result.code == 73:
        assert "full" in one_sentence(result)
        assert "rollback" not in result.err


def _interpreter_for_nobody() -> tuple[str, str] | None:
    """An interpreter that nobody may execute, and the PYTHONPATH that gives it this
    environment's packages. A venv made from an interpreter under /root (pyenv, say)
    cannot be run by nobody, so Debian's python3 of the same version stands in for it,
    with the venv's site-packages on its path."""
    import sysconfig

    packages = os.pathsep.join(
        dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    )
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for interpreter in (sys.executable, f"/usr/bin/python{version}"):
        try:
            probe = subprocess.run(
                [interpreter, "-c", "import httpx, pydantic_settings"],
                env={"PATH": os.defpath, "PYTHONPATH": packages},
                capture_output=True,
                timeout=60,
                user=NOBODY,
                group=NOBODY,
                extra_groups=[],
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return interpreter, packages
    return None


def _run_as_nobody(root: Path, *args: str) -> Result:
    runner = Runner(root)
    found = _interpreter_for_nobody()
    if found is None:
        pytest.skip(
            "no Python interpreter with this environment's packages is executable by nobody"
        )
    interpreter, packages = found
    env = dict(runner.env, STATUSWATCH_NOW="2025-06-19T17:55:29Z")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), packages]))
    done = subprocess.run(
        [interpreter, "-m", "statuswatch", *args],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
    )
    result = Result(done.returncode, done.stdout, done.stderr, 0.0)
    assert "Traceback" not in result.out + result.err, result
    return result


@pytest.fixture
def foreign_root(recorded: Recorded) -> Iterator[Path]:
    """A folder another user (nobody) can read, holding a copy of the recorded state."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root: these tests need to run statuswatch as nobody")
        pytest.skip("needs root, to run statuswatch as another user (nobody)")
    root = Path(tempfile.mkdtemp(prefix="statuswatch-foreign-"))
    root.chmod(0o755)
    shutil.copytree(recorded.state_dir, root / "state")
    write_config(root / "c.toml", recorded.server.url(), ["iCloud Backup", "Schoolwork"])
    (root / "c.toml").chmod(0o644)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_database_file_owned_by_another_user_and_0444_is_exit_73(
    recorded: Recorded, foreign_root: Path
) -> None:
    state = foreign_root / "state"
    os.chown(state, NOBODY, NOBODY)  # the folder is this user's, the file is not
    (state / DB_NAME).chmod(0o444)
    recorded.server.set_body(NEXT_FEED.read_bytes())
    before = _fingerprint(state)
    config = str(foreign_root / "c.toml")
    result = _run_as_nobody(foreign_root, "check", "--config", config, "--state-dir", str(state))
    assert result.code == 73, result
    sentence = one_sentence(result)
    assert "read-only for this user (owner root, mode 0444)" in sentence, sentence
    assert _fingerprint(state)[DB_NAME] == before[DB_NAME]
    # ... and the readers still read it.
    status = _run_as_nobody(foreign_root, "status", "--config", config, "--state-dir", str(state))
    assert status.code == 0, status
    assert "Schoolwork" in status.out and "outage" in status.out


# -- item 7: readers never write, and read where they cannot write --------------------------


@pytest.mark.parametrize(
    "command",
    [["status"], ["status", "--json"], ["history", "--since", "all"], ["outbox"], ["export"]],
)
def test_readers_work_on_a_state_dir_they_cannot_write_and_change_nothing(
    command: list[str], recorded: Recorded, foreign_root: Path
) -> None:
    state = foreign_root / "state"
    for path in [state, *state.iterdir()]:
        os.chown(path, 0, 0)
    state.chmod(0o755)
    for path in state.iterdir():
        path.chmod(0o644)
    before = _fingerprint(state)
    args = [*command, "--config", str(foreign_root / "c.toml"), "--state-dir", str(state)]
    if command == ["export"]:
        out = foreign_root / "site"
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        args.insert(1, str(out))
    result = _run_as_nobody(foreign_root, *args)
    assert result.code == 0, result
    assert result.err == "", result
    assert _fingerprint(state) == before
    if command[0] == "status":
        assert "Schoolwork" in result.out


def test_readers_leave_a_corrupt_database_where_it_is(recorded: Recorded) -> None:
    database = recorded.state_dir / DB_NAME
    for companion in ("statuswatch.db-wal", "statuswatch.db-shm"):
        (recorded.state_dir / companion).unlink(missing_ok=True)
    database.write_bytes(b"this is not a database\n" * 200)
    before = _fingerprint(recorded.state_dir)
    for command in (["status"], ["history"], ["outbox"]):
        result = recorded.run(
            *command, "--config", str(recorded.config), "--state-dir", str(recorded.state_dir)
        )
        assert result.code == 73, result
        assert "is corrupt; the next `statuswatch check`" in one_sentence(result)
        assert _fingerprint(recorded.state_dir) == before
    assert not list(recorded.state_dir.glob("*.corrupt-*"))
    # The writer moves it aside.
    assert recorded.check().code == 0
    assert len(list(recorded.state_dir.glob("*.corrupt-*"))) == 1


def test_readers_on_an_empty_state_dir_create_nothing(sw: Runner, tmp_path: Path) -> None:
    state = tmp_path / "never-written"
    for command in (["status"], ["history"], ["outbox"]):
        result = sw(*command, "--state-dir", str(state))
        assert result.code == 0, result
    assert not state.exists()


def test_readonly_store_refuses_writes(recorded: Recorded) -> None:
    store = SqliteStore.open(recorded.state_dir, readonly=True)
    try:
        assert store.service_states()
        with pytest.raises(StoreError, match="opened read-only"):
            store.forget_validators("apple")
    finally:
        store.close()


# -- item 6: a row that passes quick_check but does not decode -------------------------------


def test_an_undecodable_row_is_reported_with_its_id_and_nothing_else_fails(
    recorded: Recorded,
) -> None:
    db = sqlite3.connect(recorded.state_dir / DB_NAME)
    with db:
        bad_id = db.execute(
            "INSERT INTO transitions (source, service, kind, from_state, to_state, at)"
            " VALUES ('apple', 'Schoolwork', 'initiam', NULL, 'outage', 1750355129)"
            " RETURNING id"
        ).fetchone()[0]
        db.execute(
            "INSERT INTO outbox (transition_id, subscriber, target_key, target_label,"
            " created_at, next_attempt_at) VALUES (?, 'family', 'k', 'json://sink', 0, 0)",
            (bad_id,),
        )
    assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
    db.close()
    args = ("--config", str(recorded.config), "--state-dir", str(recorded.state_dir))
    history = recorded.run("history", "--since", "all", "--json", *args)
    assert history.code == 0, history
    assert [item["kind"] for item in history.json_lines()] == ["initial"]
    assert f"transition {bad_id} in " in history.err and "'initiam'" in history.err
    outbox = recorded.run("outbox", *args)
    assert outbox.code == 0, outbox
    assert f"outbox row 1 (transition {bad_id})" in outbox.err
    status = recorded.run("status", *args)
    assert status.code == 0, status
    # A check records the next change and does not die on the row it cannot send.
    recorded.server.set_body(NEXT_FEED.read_bytes())
    check = recorded.check()
    assert check.code == 0, check
    assert f"outbox row 1 (transition {bad_id})" in check.err
    assert "Schoolwork: outage → available (recovered" in check.out
    assert "internal error" not in check.err


@pytest.mark.parametrize(
    ("damage", "what"),
    [
        ("body = x'00112233'", "the stored feed body of source apple"),  # not its hash
        (
            "body = x'789c4b4c4a0600024d0127'",
            "the stored feed body of source apple",
        ),  # zlib, wrong hash
        ("last_success = 'yesterday'", "the poll record of source apple"),
        ("down = 'maybe', first_failure = 'soon'", "the poll record of source apple"),
    ],
)
def test_an_undecodable_source_row_is_reported_and_the_next_check_repairs_it(
    recorded: Recorded, damage: str, what: str
) -> None:
    db = sqlite3.connect(recorded.state_dir / DB_NAME)
    with db:
        db.execute(f"UPDATE source_state SET {damage} WHERE source = 'apple'")
    assert db.execute("PRAGMA quick_check").fetchone() == ("ok",)
    db.close()
    args = ("--config", str(recorded.config), "--state-dir", str(recorded.state_dir))
    status = recorded.run("status", *args)
    assert status.code == 0, status
    assert "iCloud Backup" in status.out
    requests_before = recorded.server.request_count
    check = recorded.check()
    assert check.code == 0, check
    assert f"{what} in {recorded.state_dir} cannot be read" in check.err
    assert "internal error" not in check.err
    if "body" in damage:  # no usable body to evaluate a 304 against: fetch unconditionally
        assert recorded.server.request_count == requests_before + 1
        assert recorded.server.last_request.header("If-None-Match") is None
    # That check wrote a good row over the bad one: nothing to report any more.
    again = recorded.run("status", *args)
    assert again.code == 0 and "cannot be read" not in again.err, again
    assert "source apple: last poll" in again.out


def test_a_readonly_postgres_store_reads_and_the_server_refuses_its_writes(pg_dsn: str) -> None:
    from statuswatch.store import StoreUnwritable
    from statuswatch.store.postgres import PostgresStore

    reader = PostgresStore.open(pg_dsn, readonly=True)
    try:
        assert reader.service_states() == []
        with pytest.raises(StoreUnwritable, match="opened read-only"):
            reader.forget_validators("apple")
        # Even SQL that slips past the store's own guard is refused by the server.
        with pytest.raises(StoreUnwritable, match="read-only"):
            reader._reader().execute("DELETE FROM outbox")
    finally:
        reader.close()
