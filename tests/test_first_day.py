"""A first day without surprises (issue 10): a systemd install inspected from a root shell,
`services` reading the configured feeds, a closed output pipe, and the rough edges of the
output (help, `config show`, `status` with nothing recorded).

Every command runs as a real `statuswatch` subprocess against a feed served by
tests/peers.FeedServer on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import feed_bytes, raw_event, raw_feed
from tests.conftest import SAMPLES
from tests.inprocess import run_statuswatch
from tests.peers import FeedServer

REPO = Path(__file__).resolve().parent.parent
NOW = "2025-06-14T12:30:00Z"
IN_MAINTENANCE = feed_bytes(
    raw_feed(
        {
            "iCloud Backup": [raw_event("9001", "Maintenance", "ongoing")],
            "iCloud Mail": [],
            "Maps": [],
        }
    )
)
AVAILABLE = feed_bytes(raw_feed({"iCloud Backup": [], "iCloud Mail": [], "Maps": []}))


def env(home: Path, **extra: str) -> dict[str, str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STATUSWATCH_", "CREDENTIALS_", "NOTIFY_", "XDG_"))
        and key not in ("STATE_DIRECTORY", "CONFIGURATION_DIRECTORY", "INVOCATION_ID")
    }
    clean.update(HOME=str(home), STATUSWATCH_NOW=NOW, PYTHONPATH=str(REPO))
    clean.update(PYTHONDONTWRITEBYTECODE="1", **extra)
    return clean


def run(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`statuswatch ARGS` in this process (tests/inprocess.py), from `home`."""
    done = run_statuswatch(args, env=env(home, **extra), cwd=home)
    assert "Traceback" not in done.stdout + done.stderr, done
    return done


def config(path: Path, *sources: tuple[str, str, list[str]], extra: str = "") -> Path:
    """A config with one `[[sources]]` per (name, url, services)."""
    lines = [f"state_dir = {json.dumps(str(path.parent / 'state'))}", 'timeout = "2s"', extra]
    for name, url, services in sources:
        lines += [
            "[[sources]]",
            f"name = {json.dumps(name)}",
            f"url = {json.dumps(url)}",
            f"services = {json.dumps(services)}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def feed() -> FeedServer:
    with FeedServer() as server:
        server.set_body(IN_MAINTENANCE)
        yield server  # type: ignore[misc]


# -- item 3: the systemd service's config, secrets and state from a root shell ------------


def credentials_config(tmp_path: Path, feed: FeedServer) -> Path:
    return config(
        tmp_path / "statuswatch.toml",
        ("apple", feed.url(), ["iCloud Backup"]),
        extra='[[subscribers]]\nname = "me"\nurls_file = "${CREDENTIALS_DIRECTORY}/apprise-urls"',
    )


def test_a_credentials_config_from_a_shell_names_the_flag_that_fixes_it(
    tmp_path: Path, feed: FeedServer
) -> None:
    cfg = credentials_config(tmp_path, feed)
    for command in (["config", "check"], ["check"], ["notify-test"]):
        done = run(tmp_path, "--config", str(cfg), *command)
        assert done.returncode == 78, (command, done)
        (line,) = done.stderr.splitlines()
        assert "only systemd sets (LoadCredential=)" in line
        assert "pass --credentials-dir DIR" in line


def test_credentials_dir_stands_in_for_systemd_credentials(
    tmp_path: Path, feed: FeedServer
) -> None:
    cfg = credentials_config(tmp_path, feed)
    secrets = tmp_path / "etc-statuswatch"
    secrets.mkdir()
    (secrets / "apprise-urls").write_text(f"json://127.0.0.1:{feed.port}/hook-TOKEN123\n")

    done = run(tmp_path, "--config", str(cfg), "--credentials-dir", str(secrets), "config", "check")
    assert done.returncode == 0, done
    assert "1 subscriber(s)" in done.stdout

    # The environment variable does the same (for a shell profile or sudo -E).
    sent = run(
        tmp_path,
        "--config",
        str(cfg),
        "notify-test",
        STATUSWATCH_CREDENTIALS_DIRECTORY=str(secrets),
    )
    assert sent.returncode == 0, sent
    assert "TOKEN123" not in sent.stdout + sent.stderr  # the secret stays masked
    assert len(feed.accepted("/hook-TOKEN123")) == 1

    checked = run(tmp_path, "--config", str(cfg), "--credentials-dir", str(secrets), "check")
    assert checked.returncode == 0, checked
    assert len(feed.accepted("/hook-TOKEN123")) == 2  # the `initial` maintenance message


def test_a_credentials_dir_that_does_not_exist_is_one_sentence(tmp_path: Path) -> None:
    done = run(tmp_path, "--credentials-dir", str(tmp_path / "nope"), "config", "check")
    assert done.returncode == 78, done
    (line,) = done.stderr.splitlines()
    assert line == (
        f"statuswatch: --credentials-dir {tmp_path / 'nope'}: no such directory; name the "
        "folder that holds the files LoadCredential= reads (e.g. /etc/statuswatch)"
    )


def test_the_shipped_systemd_config_names_the_service_state_directory(tmp_path: Path) -> None:
    shipped = REPO / "systemd" / "statuswatch.toml"
    secrets = tmp_path / "creds"
    secrets.mkdir()
    (secrets / "apprise-urls").write_text("json://127.0.0.1:9/hook\n")
    done = run(
        tmp_path, "--config", str(shipped), "--credentials-dir", str(secrets), "config", "show"
    )
    assert done.returncode == 0, done
    assert 'state_dir = "/var/lib/statuswatch"' in done.stdout.splitlines()
    checked = run(
        tmp_path, "--config", str(shipped), "--credentials-dir", str(secrets), "config", "check"
    )
    assert checked.returncode == 0, checked
    # The unit's StateDirectory= is the same directory.
    unit = (REPO / "systemd" / "statuswatch.service").read_text()
    assert "StateDirectory=statuswatch\n" in unit


def test_readers_say_which_state_directory_they_read(tmp_path: Path, feed: FeedServer) -> None:
    cfg = config(tmp_path / "c.toml", ("apple", feed.url(), ["iCloud Backup"]))
    state = tmp_path / "state"
    assert run(tmp_path, "--config", str(cfg), "check").returncode == 0
    status = run(tmp_path, "--config", str(cfg), "status")
    assert status.stdout.splitlines()[-1] == f"state: {state}", status
    assert json.loads(run(tmp_path, "--config", str(cfg), "status", "--json").stdout)[
        "state"
    ] == str(state)
    history = run(tmp_path, "--config", str(cfg), "history", "--since", "all")
    assert history.stdout.splitlines()[-1] == f"# state: {state}", history
    outbox = run(tmp_path, "--config", str(cfg), "outbox")
    assert outbox.stdout == (
        f"The outbox is empty: every notification was delivered (state: {state}).\n"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can create files for another user")
def test_a_root_check_hands_what_it_creates_back_to_the_service_user(
    tmp_path: Path, feed: FeedServer
) -> None:
    """A root shell's `check` on the service's state directory must not leave root-owned
    files the service (another user) could then not write."""
    cfg = config(tmp_path / "c.toml", ("apple", feed.url(), ["iCloud Backup"]))
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 4242, 4242)
    done = run(tmp_path, "--config", str(cfg), "check")
    assert done.returncode == 0, done
    owners = {path.name: path.stat().st_uid for path in state.rglob("*")}
    assert "statuswatch.db" in owners and "statuswatch.lock" in owners
    assert set(owners.values()) == {4242}, owners


# -- item 9: a reader that goes away ---------------------------------------------------------


def closed_pipe_run(home: Path, *args: str) -> tuple[int, str]:
    """Run with a stdout pipe whose reader is already gone, as `| head -1` ends up."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "statuswatch", *args],
            env=env(home),
            cwd=home,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    return done.returncode, done.stderr


def test_a_closed_pipe_ends_history_services_and_replay_quietly(
    tmp_path: Path, feed: FeedServer
) -> None:
    cfg = config(tmp_path / "c.toml", ("apple", feed.url(), ["*"]))
    assert run(tmp_path, "--config", str(cfg), "check").returncode == 0
    for args in (
        ("--config", str(cfg), "history", "--since", "all"),
        ("--config", str(cfg), "services"),
        ("--config", str(cfg), "status"),
        ("replay", str(REPO / "tests" / "data" / "feeds" / "history" / "consumer")),
    ):
        code, err = closed_pipe_run(tmp_path, *args)
        assert (code, err) == (141, ""), args


def test_history_piped_into_head_prints_one_line_and_nothing_else(
    tmp_path: Path, feed: FeedServer
) -> None:
    cfg = config(tmp_path / "c.toml", ("apple", feed.url(), ["*"]))
    assert run(tmp_path, "--config", str(cfg), "check").returncode == 0
    command = (
        f"{sys.executable} -m statuswatch --config {cfg} replay "
        f"{REPO / 'tests/data/feeds/history/consumer'} | head -1"
    )
    done = subprocess.run(
        ["bash", "-c", command], env=env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr == "", done
    assert len(done.stdout.splitlines()) == 1


# -- item 10: `services` reads the configured sources ---------------------------------------


def test_services_lists_each_configured_feed_with_the_state_now(tmp_path: Path) -> None:
    with FeedServer() as mirror, FeedServer() as developer:
        mirror.set_body(IN_MAINTENANCE)
        developer.set_body(feed_bytes(raw_feed({"Xcode Cloud": [raw_event("7", "Outage")]})))
        cfg = config(
            tmp_path / "c.toml",
            ("mirror", mirror.url("/system_status_en_US.js"), ["iCloud Backup"]),
            ("dev", developer.url("/developer.js"), ["Xcode Cloud"]),
        )
        done = run(tmp_path, "--config", str(cfg), "services")
        assert done.returncode == 0, done
        assert done.stdout.splitlines() == [
            f"# mirror: {mirror.url('/system_status_en_US.js')} (3 services)",
            "iCloud Backup        maintenance  watched",
            "iCloud Mail          available",
            "Maps                 available",
            f"# dev: {developer.url('/developer.js')} (1 services)",
            "Xcode Cloud          outage       watched",
        ]
        as_json = run(tmp_path, "--config", str(cfg), "services", "--json")
        rows = [json.loads(line) for line in as_json.stdout.splitlines()]
        assert rows[0] == {
            "source": "mirror",
            "name": "iCloud Backup",
            "state": "maintenance",
            "watched": True,
        }
        assert mirror.request_count == 2 and developer.request_count == 2


def test_services_url_overrides_the_configured_source(tmp_path: Path) -> None:
    with FeedServer() as configured, FeedServer() as other:
        configured.set_body(IN_MAINTENANCE)
        other.set_body((SAMPLES / "appleservicestatus").glob("*.json").__next__().read_bytes())
        cfg = config(tmp_path / "c.toml", ("apple", configured.url(), ["iCloud Backup"]))
        done = run(tmp_path, "--config", str(cfg), "services", "--url", other.url("/x.js"))
        assert done.returncode == 0, done
        assert done.stdout.splitlines()[0].startswith(f"# command line: {other.url('/x.js')} (")
        assert configured.request_count == 0 and other.request_count == 1


def test_services_reports_a_failing_feed_and_lists_the_others(tmp_path: Path) -> None:
    with FeedServer() as good, FeedServer() as bad:
        good.set_body(AVAILABLE)
        bad.set_status(404)
        cfg = config(
            tmp_path / "c.toml",
            ("good", good.url(), ["Maps"]),
            ("bad", bad.url(), ["Maps"]),
        )
        done = run(tmp_path, "--config", str(cfg), "services")
        assert done.returncode == 69, done
        assert "Maps                 available    watched" in done.stdout.splitlines()
        (line,) = done.stderr.splitlines()
        assert line.startswith("statuswatch: bad: ") and "404" in line


# -- item 13: help and output ----------------------------------------------------------------


def test_only_the_top_level_help_carries_the_exit_code_table(tmp_path: Path) -> None:
    top = run(tmp_path, "--help")
    assert "exit codes:" in top.stdout and "  78  configuration error" in top.stdout
    assert "  141 " in top.stdout
    for command in ("check", "status", "history", "services", "outbox", "config"):
        sub = run(tmp_path, command, "--help")
        assert sub.returncode == 0
        assert "78  configuration error" not in sub.stdout, command
        assert sub.stdout.rstrip().endswith("exit codes: see `statuswatch --help`"), command


def test_config_show_writes_durations_as_written_and_the_state_directory(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'stale_after = "30m"\ninterval = 3600\n[heartbeat]\nurl = "https://hc.example/x"\n'
    )
    done = run(tmp_path, "--config", str(cfg), "config", "show", XDG_STATE_HOME=str(tmp_path / "x"))
    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    assert 'stale_after = "30m"' in lines and 'interval = "1h"' in lines
    assert 'give_up_after = "1d"' in lines and 'timeout = "10s"' in lines
    assert lines[-1] == f"# state directory in effect: {tmp_path / 'x' / 'statuswatch'}"


def test_status_with_confirm_2_shows_what_waits_for_confirmation(
    tmp_path: Path, feed: FeedServer
) -> None:
    cfg = config(tmp_path / "c.toml", ("apple", feed.url(), ["iCloud Backup"]), extra="confirm = 2")
    assert run(tmp_path, "--config", str(cfg), "check").returncode == 0
    status = run(tmp_path, "--config", str(cfg), "status")
    first = status.stdout.splitlines()[0]
    assert first.split()[:3] == ["iCloud", "Backup", "unconfirmed"], status
    assert "maintenance seen in 1 poll(s) since 2025-06-14 12:30 UTC, confirmed after 2" in first
    assert "since -" not in status.stdout


def test_history_shows_each_time_once_and_no_empty_event(tmp_path: Path, feed: FeedServer) -> None:
    cfg = config(tmp_path / "c.toml", ("apple", feed.url(), ["iCloud Backup", "Maps"]))
    assert run(tmp_path, "--config", str(cfg), "check").returncode == 0  # initial maintenance
    feed.set_body(AVAILABLE)
    later = run(tmp_path, "--config", str(cfg), "check", STATUSWATCH_NOW="2025-06-14T13:30:00Z")
    assert later.returncode == 0, later
    history = run(tmp_path, "--config", str(cfg), "history", "--since", "all")
    lines = history.stdout.splitlines()[:-1]  # the last names the state directory
    assert len(lines) == 2, history
    for line in lines:
        assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d", line)) == 1, line
        assert "[event -]" not in line
    assert lines[0].endswith("[event 9001]")


def test_check_shows_a_scheduled_window_in_the_configured_zone(
    tmp_path: Path, feed: FeedServer
) -> None:
    start = 1749996000000  # 2025-06-15T14:00:00Z
    feed.set_body(
        feed_bytes(
            raw_feed(
                {
                    "iCloud Backup": [
                        raw_event("77", "Maintenance", "scheduled", start, start + 2 * 3600 * 1000)
                    ]
                }
            )
        )
    )
    cfg = config(
        tmp_path / "c.toml",
        ("apple", feed.url(), ["iCloud Backup"]),
        extra='timezone = "Europe/Paris"',
    )
    done = run(tmp_path, "--config", str(cfg), "check")
    assert done.returncode == 0, done
    assert (
        "→ iCloud Backup: maintenance scheduled for 2025-06-15 16:00–18:00 CEST "
        "(announced 2025-06-14 14:30 CEST)"
    ) in done.stdout.splitlines()
    assert "PDT" not in done.stdout  # never Apple's raw Pacific-time strings


def test_since_and_poll_times_use_the_configured_zone_like_the_change_lines(
    tmp_path: Path, feed: FeedServer
) -> None:
    cfg = config(
        tmp_path / "c.toml",
        ("apple", feed.url(), ["iCloud Backup"]),
        extra='timezone = "Europe/Paris"',
    )
    done = run(tmp_path, "--config", str(cfg), "check")  # NOW is 12:30 UTC = 14:30 CEST
    assert done.returncode == 0, done
    assert "iCloud Backup        maintenance  since 2025-06-14 14:30 CEST" in done.stdout
    status = run(tmp_path, "--config", str(cfg), "status")
    assert status.returncode == 0, status
    assert "since 2025-06-14 14:30 CEST" in status.stdout
    assert "last poll 2025-06-14 14:30 CEST, last success 2025-06-14 14:30 CEST" in status.stdout
    assert " UTC" not in status.stdout
