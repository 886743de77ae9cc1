"""The README and docs say what the code and CI do (issue 10): the install and test commands
CI runs are the README's, every "DESIGN §N" cited exists in the repository, and the docs
offer no setting the config would reject."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def _install_section_commands() -> list[str]:
    section = README.split("## Install\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_ci_runs_exactly_the_readme_install_and_test_commands() -> None:
    install, test = _install_section_commands()
    # One line each, through a venv in the clone: PEP 668 refuses `pip install .` into the
    # distribution's python3 on Debian 12/13 and Ubuntu 24.04.
    assert install == (
        "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/statuswatch check"
    )
    assert test == ".venv/bin/pip install '.[test]' && .venv/bin/python -m pytest"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert f"{install} || status=$?" in ci.splitlines()
    assert test in ci.splitlines()
    assert '"$status" -ne 69' in ci  # offline CI: check may not reach www.apple.com


def test_the_readme_states_a_measured_suite_time_and_the_fuzz_command() -> None:
    assert re.search(r"the suite took \d+ s wall", README), "the measured suite time"
    assert "python bench/fuzz.py --inputs 1000000" in README


def test_every_design_section_cited_exists_in_the_repository() -> None:
    design = (REPO / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^##+ (\d+[a-z]?)\. ", design, flags=re.M))
    cited: dict[str, set[str]] = {}
    for path in [REPO / "README.md", *REPO.glob("docs/*.md")] + [
        p for folder in ("statuswatch", "tests", "bench") for p in (REPO / folder).rglob("*.py")
    ]:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"DESIGN[^§\n]{0,40}§ ?(\d+[a-z]?)(?:[–-](\d+))?", text):
            first, last = match.group(1), match.group(2)
            numbers = (
                [first] if last is None else [str(n) for n in range(int(first), int(last) + 1)]
            )
            for number in numbers:
                cited.setdefault(number, set()).add(path.name)
    assert cited, "the search found no citation at all"
    missing = {number: files for number, files in cited.items() if number not in sections}
    assert missing == {}


def test_the_notifications_doc_offers_no_status_page_setting(tmp_path: Path) -> None:
    doc = (REPO / "docs" / "notifications.md").read_text(encoding="utf-8")
    mentions = re.findall(r".{0,30}status_page.{0,30}", doc)
    assert all("{status_page}" in mention for mention in mentions), mentions
    config = tmp_path / "c.toml"
    config.write_text('status_page = "https://status.example"\n')
    done = subprocess.run(
        [sys.executable, "-m", "statuswatch", "--config", str(config), "config", "check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 78 and "status_page" in done.stderr, done
