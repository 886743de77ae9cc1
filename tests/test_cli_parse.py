"""The parser built for one plainly named command parses exactly as the whole one."""

from __future__ import annotations

import pytest

from statuswatch.cli import COMMANDS, build_parser, named_command

ARGVS = [
    ["check"],
    ["check", "--quiet"],
    ["--config", "/x.toml", "check", "--json"],
    ["--config=/x.toml", "--debug", "--log-level", "info", "check", "--nagios", "-q"],
    ["--state-dir", "/s", "status", "--json"],
    ["history", "--since", "all", "--service", "iCloud Backup"],
    ["services", "--json"],
    ["silence", "add", "--service", "iCloud Backup", "--for", "2h"],
    ["wait", "iCloud Backup", "--timeout", "1h"],
    ["outbox", "retry", "3"],
    ["store", "copy", "--from", "/a", "--to", "postgresql://h/db"],
    ["replay", "a.json", "--confirm", "2"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=lambda argv: " ".join(argv))
def test_one_command_parser_parses_as_the_whole_one(argv: list[str]) -> None:
    name = named_command(argv)
    assert name is not None and name in COMMANDS
    assert build_parser(name).parse_args(argv) == build_parser().parse_args(argv)


@pytest.mark.parametrize(
    "argv",
    [[], ["--help"], ["-h", "check"], ["--version"], ["chek"], ["--config"], ["--weird", "check"]],
)
def test_anything_unclear_gets_the_whole_parser(argv: list[str]) -> None:
    assert named_command(argv) is None
