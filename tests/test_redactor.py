"""Redactor finds fragments by their first or last characters: it must scrub exactly what
looking for every fragment in turn scrubs."""

from __future__ import annotations

import random

from statuswatch.secrets import Redactor, secret_fragments


def _naive(fragments: list[str], text: str) -> str:
    for fragment in sorted(fragments, key=len, reverse=True):
        if fragment in text:
            text = text.replace(fragment, "****")
    return text


def test_scrubs_what_the_plain_search_scrubs() -> None:
    rng = random.Random(14)
    alphabet = "abcdeXY/:@?=._-0123456789"
    for _ in range(300):
        urls = [
            "json://"
            + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
            + "@host/hooks/"
            + "".join(rng.choice(alphabet) for _ in range(rng.randint(4, 14)))
            for _ in range(rng.randint(1, 6))
        ]
        extra = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7)))]
        redactor = Redactor(urls, fragments_too=extra)
        fragments = sorted(set().union(*(secret_fragments(u) for u in urls)) | set(extra))
        for _ in range(5):
            pieces = [rng.choice([*urls, *fragments, "plain text ", "x"]) for _ in range(4)]
            cut = rng.randint(0, 3)
            text = "".join(pieces)[cut:]
            assert redactor(text) == _naive(fragments, text), (urls, extra, text)


def test_many_webhooks_sharing_a_prefix() -> None:
    urls = [f"json://127.0.0.1:4567/hooks/token{i:05d}" for i in range(2000)]
    redactor = Redactor(urls)
    line = f"posting to {urls[1234]} failed; {urls[7]} too; token01234 again"
    assert redactor(line) == "posting to **** failed; **** too; **** again"


def test_redact_logs_adds_each_url_once_and_new_ones_still() -> None:
    import logging

    from statuswatch.secrets import RedactingFilter, redact_logs

    handler = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        redact_logs(["json://127.0.0.1:9/hooks/firsttoken"])
        (found,) = [f for f in handler.filters if isinstance(f, RedactingFilter)]
        index = found.redactor._heads, found.redactor._tails
        redact_logs(["json://127.0.0.1:9/hooks/firsttoken"])
        assert (found.redactor._heads, found.redactor._tails) == index
        assert found.redactor._heads is index[0]  # not rebuilt
        redact_logs(["json://127.0.0.1:9/hooks/secondtoken"])
        assert found.redactor("secondtoken and firsttoken") == "**** and ****"
    finally:
        root.removeHandler(handler)


def test_a_target_never_shows_its_url() -> None:
    """Targets travel in tracebacks, logs at debug and `--debug` output: their repr (and so
    any container's repr, f"{target!r}", pytest's assertion rewriting) must not hold the
    apprise URL and its token."""
    from statuswatch.notify.targets import Target

    secret = "xoxb-123456-SECRET-TOKEN"
    target = Target(key="k1", label="slack://T0…/****/…", url=f"slack://{secret}/C1")
    for shown in (repr(target), str(target), repr([target]), f"{target}"):
        assert secret not in shown
        assert "slack://T0…/****/…" in shown
    assert target.url.endswith("/C1")  # still there for delivery
