"""Configuration that `config check` used to accept and `check` or `run` then tripped on
(issue 10, item 8): each value is now refused when the config is loaded, with exit 78 and
one sentence naming where the value came from (file key or environment variable) and the
fix. A table of mutations over one good config, each run through `config check` and
`check` in a subprocess against a local feed server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers import FeedServer
from tests.test_cli_check import BUSY_FEED, Runner, feed_server, one_sentence, sw, write_config

__all__ = ["feed_server", "sw"]  # fixtures pytest must find here

LONG_PATH = "/" + "x" * 5000

# (name, top-level TOML lines, subscriber TOML lines, environment, words in the sentence)
CASES: list[tuple[str, str, str, dict[str, str], list[str]]] = [
    ("timeout nan", "timeout = nan", "", {}, ["c.toml: timeout:", "nan is not a duration"]),
    ("timeout inf", "timeout = inf", "", {}, ["c.toml: timeout:", "at most 366d"]),
    ("timeout huge", 'timeout = "1h"', "", {}, ["c.toml: timeout:", "300"]),
    ("stale_after inf", "stale_after = inf", "", {}, ["stale_after:", "at most 366d"]),
    ("stale_after 1e9 days", 'stale_after = "1000000000d"', "", {}, ["stale_after:", "366d"]),
    ("give_up_after inf", "give_up_after = inf", "", {}, ["give_up_after:", "366d"]),
    ("interval nan", "interval = nan", "", {}, ["interval:", "nan is not a duration"]),
    ("interval inf", "interval = inf", "", {}, ["interval:", "366d"]),
    ("interval huge", 'interval = "300d"', "", {}, ["interval:", "604800"]),
    ("number too big", "max_body_bytes = 1e400", "", {}, ["max_body_bytes:"]),
    ("env blamed", "", "", {"STATUSWATCH_CONFIRM": "abc"}, ["variable STATUSWATCH_CONFIRM:"]),
    ("env nan", "", "", {"STATUSWATCH_TIMEOUT": "nan"}, ["variable STATUSWATCH_TIMEOUT:"]),
    (
        "long apprise_config",
        "",
        f'apprise_config = "{LONG_PATH}"',
        {},
        ["subscribers[0].apprise_config:", "too long (5001 characters"],
    ),
    (
        "mailtos bad to",
        "",
        'urls = ["mailtos://user:pw@example.com?to=not-an-email"]',
        {},
        ["subscriber 'me'", "to='not-an-email'", "not an email address"],
    ),
    (
        "subscriber service nobody watches",
        "",
        'urls = ["json://127.0.0.1:9/h"]\nservices = ["iCloud Backups"]',
        {},
        ["'iCloud Backups' is not watched by any source", "did you mean 'iCloud Backup'?"],
    ),
]


@pytest.mark.parametrize(
    ("top", "subscriber", "env", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_value_check_would_trip_on_is_refused_at_load(
    top: str,
    subscriber: str,
    env: dict[str, str],
    words: list[str],
    sw: Runner,
    tmp_path: Path,
    feed_server: FeedServer,
) -> None:
    feed_server.set_body(BUSY_FEED.read_bytes())
    config = write_config(tmp_path / "c.toml", feed_server.url(), extra=top)
    if subscriber:
        with config.open("a") as handle:
            handle.write(f'\n[[subscribers]]\nname = "me"\n{subscriber}\n')
            if "urls" not in subscriber and "apprise_config" not in subscriber:
                handle.write('urls = ["json://127.0.0.1:9/h"]\n')
    sw.env.update(env)
    for command in (["config", "check"], ["check"]):
        result = sw(*command, "--config", str(config), "--state-dir", str(tmp_path / "s"))
        assert result.code == 78, result
        sentence = one_sentence(result)
        for word in words:
            assert word in sentence, sentence
        assert "pw@" not in sentence
    if env:
        assert "c.toml" not in sentence, "an environment variable's mistake is not the file's"
    assert not (tmp_path / "s").exists() or not list((tmp_path / "s").iterdir())


def test_a_non_ascii_port_in_a_source_url_is_refused(sw: Runner, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", "http://127.0.0.1:\u0668\u0660/feed.json")
    for command in (["config", "check"], ["check"]):
        result = sw(*command, "--config", str(config))
        assert result.code == 78, result
        assert "a port is a number from 1 to 65535 written in ASCII digits" in one_sentence(result)


def test_config_given_as_a_directory_says_so(sw: Runner, tmp_path: Path) -> None:
    result = sw("config", "check", "--config", str(tmp_path))
    assert result.code == 78, result
    assert f"the config file {tmp_path} (from --config) is a directory" in one_sentence(result)


def test_log_level_is_accepted_in_any_case(
    sw: Runner, tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.set_body(BUSY_FEED.read_bytes())
    config = write_config(tmp_path / "c.toml", feed_server.url(), extra='log_level = "INFO"')
    result = sw("--log-level", "INFO", "config", "check", "--config", str(config))
    assert result.code == 0, result
    result = sw("--log-level", "Warning", "status", "--config", str(config))
    assert result.code == 0, result


def test_config_check_checks_watched_names_against_the_live_feed(
    sw: Runner, tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.set_body(BUSY_FEED.read_bytes())
    config = write_config(tmp_path / "c.toml", feed_server.url(), ["iCloud Backups"])
    result = sw("config", "check", "--config", str(config))
    assert result.code == 78, result
    assert "did you mean 'iCloud Backup'?" in one_sentence(result)
    good = write_config(tmp_path / "g.toml", feed_server.url(), ["iCloud Backup"])
    result = sw("config", "check", "--config", str(good))
    assert result.code == 0, result
    assert result.err == ""


def test_config_check_says_plainly_when_it_could_not_reach_the_feed(
    sw: Runner, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.toml", "http://127.0.0.1:9/feed.json", ["iCloud Backups"])
    result = sw("config", "check", "--config", str(config))
    assert result.code == 0, result
    assert "OK" in result.out
    note = one_sentence(result)
    assert "could not check the watched names of source 'apple'" in note
    assert "`statuswatch check` checks them when it can" in note
