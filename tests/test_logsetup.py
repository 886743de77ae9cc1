"""configure_logging: journald priority prefixes when stderr is the journal, else timestamps."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest

from statuswatch.logsetup import configure_logging, journal_stream_matches, parse_level

PLAIN_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: "
)


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Leave the root logger and the noisy loggers as we found them."""
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.delenv("STATUSWATCH_LOG_LEVEL", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "urllib3")}
    yield
    for h in root.handlers[:]:
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    for n, lvl in noisy.items():
        logging.getLogger(n).setLevel(lvl)
    logging.captureWarnings(False)


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[TextIO]:
    """A real file, so fstat() gives the dev:ino that $JOURNAL_STREAM is compared with."""
    with (tmp_path / "stderr.log").open("w+", encoding="utf-8") as f:
        yield f


def _as_journal(stream: TextIO, monkeypatch: pytest.MonkeyPatch) -> None:
    st = os.fstat(stream.fileno())
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")


def _read(stream: TextIO) -> list[str]:
    stream.flush()
    stream.seek(0)
    return stream.read().splitlines()


def test_journal_mode_prefixes_priorities(
    log_file: TextIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as_journal(log_file, monkeypatch)
    configure_logging("debug", stream=log_file)
    log = logging.getLogger("statuswatch.test")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")
    assert _read(log_file) == [
        "<7>statuswatch.test: d",
        "<6>statuswatch.test: i",
        "<4>statuswatch.test: w",
        "<3>statuswatch.test: e",
        "<2>statuswatch.test: c",
    ]


def test_journal_mode_prefixes_every_line(
    log_file: TextIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as_journal(log_file, monkeypatch)
    configure_logging("info", stream=log_file)
    log = logging.getLogger("statuswatch.test")
    log.warning("first\nsecond\nthird")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("cycle failed")
    lines = _read(log_file)
    assert lines[:3] == ["<4>statuswatch.test: first", "<4>second", "<4>third"]
    # The traceback keeps the error priority on every line, so `journalctl -p err` shows it all.
    tb = lines[3:]
    assert tb[0] == "<3>statuswatch.test: cycle failed"
    assert any("Traceback" in line for line in tb)
    assert tb[-1] == "<3>RuntimeError: boom"
    assert all(line.startswith("<3>") for line in tb)


def test_plain_mode_has_timestamps(log_file: TextIO) -> None:
    configure_logging("info", stream=log_file)
    logging.getLogger("statuswatch").warning("feed stalled")
    (line,) = _read(log_file)
    assert PLAIN_LINE.match(line), line
    assert line.endswith(" WARNING statuswatch: feed stalled")
    assert not line.startswith("<")


def test_journal_stream_of_another_file_means_plain(
    log_file: TextIO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # JOURNAL_STREAM inherited, but stderr was redirected elsewhere: no prefixes there.
    with (tmp_path / "other").open("w") as other:
        _as_journal(other, monkeypatch)
    configure_logging("info", stream=log_file)
    logging.getLogger("statuswatch").info("hello")
    (line,) = _read(log_file)
    assert PLAIN_LINE.match(line), line


def test_journal_stream_garbage_means_plain(log_file: TextIO) -> None:
    assert not journal_stream_matches(log_file, {"JOURNAL_STREAM": "nonsense"})
    assert not journal_stream_matches(log_file, {"JOURNAL_STREAM": "1:x"})
    assert not journal_stream_matches(log_file, {})


def test_stream_without_fileno_is_plain() -> None:
    import io

    assert not journal_stream_matches(io.StringIO(), {"JOURNAL_STREAM": "1:2"})


def test_level_filters(log_file: TextIO) -> None:
    configure_logging("warning", stream=log_file)
    log = logging.getLogger("statuswatch")
    log.info("hidden")
    log.warning("shown")
    assert [line.split(": ", 1)[1] for line in _read(log_file)] == ["shown"]


def test_level_from_environment(log_file: TextIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATUSWATCH_LOG_LEVEL", "DEBUG")
    configure_logging(stream=log_file)
    assert logging.getLogger().level == logging.DEBUG
    # An explicit argument (--log-level) beats the environment.
    configure_logging("error", stream=log_file)
    assert logging.getLogger().level == logging.ERROR


def test_reconfigure_replaces_handler(log_file: TextIO) -> None:
    configure_logging("info", stream=log_file)
    configure_logging("info", stream=log_file)
    logging.getLogger("statuswatch").info("once")
    assert len(_read(log_file)) == 1


def test_bad_level_is_a_plain_sentence() -> None:
    with pytest.raises(ValueError) as exc:
        configure_logging("loud")
    msg = str(exc.value)
    assert "'loud'" in msg
    for name in ("debug", "info", "warning", "error", "critical"):
        assert name in msg
    assert "\n" not in msg


def test_bad_level_in_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATUSWATCH_LOG_LEVEL", "verbose")
    with pytest.raises(ValueError, match="STATUSWATCH_LOG_LEVEL"):
        configure_logging()


def test_parse_level_accepts_case_and_warn() -> None:
    assert parse_level("INFO") == logging.INFO
    assert parse_level(" warn ") == logging.WARNING


def test_http_loggers_stay_quiet_even_at_debug(log_file: TextIO) -> None:
    # httpx logs full request URLs at INFO; webhook URLs are secrets.
    configure_logging("debug", stream=log_file)
    for name in ("httpx", "httpcore", "urllib3"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
    logging.getLogger("httpx").info(
        "HTTP Request: POST https://hooks.slack.com/services/T/B/secret"
    )
    assert _read(log_file) == []
