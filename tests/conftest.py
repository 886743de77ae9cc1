"""Shared fixtures. The real captures of Apple's feed live in tests/data/feeds (a copy of
shared/feeds, see its SOURCES.md), so a fresh clone tests against them offline."""

from __future__ import annotations

from pathlib import Path

import pytest

FEEDS = Path(__file__).parent / "data" / "feeds"
HISTORY = FEEDS / "history"
SAMPLES = FEEDS / "samples"
EXPECTED = FEEDS / "expected"


@pytest.fixture
def feeds() -> Path:
    return FEEDS
