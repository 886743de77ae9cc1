"""The one line `statuswatch run` keeps in systemd's status (sd_notify STATUS=, shown by
`systemctl status`): each watched service's state, the last poll, what waits. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from statuswatch.model import Observation

if TYPE_CHECKING:
    from statuswatch.monitor import SourceOutcome


def status_line(
    outcomes: dict[str, SourceOutcome],
    pending: int,
    role: str | None = None,
    given_up: dict[str, int] | None = None,
) -> str:
    """`iCloud Backup: available · last poll 12:05:00 UTC · 0 pending`, after the node's
    role (`leader since 12:00:01 UTC`) when several nodes share a PostgreSQL store, and
    `· 2 GIVEN UP (family)` while dead outbox rows wait for someone (DESIGN §4)."""
    parts = [role] if role else []
    last = None
    for outcome in outcomes.values():
        if outcome.ok:
            if outcome.observations:
                parts.append(_states_text(outcome.observations))
        else:
            parts.append(f"{outcome.config.name}: no data")
        last = outcome.at if last is None else max(last, outcome.at)
    if last is not None:
        parts.append(f"last poll {last.strftime('%H:%M:%S')} UTC")
    parts.append(f"{pending} pending")
    if given_up:
        names = ", ".join(sorted(given_up))
        parts.append(f"{sum(given_up.values())} GIVEN UP ({names}): see statuswatch outbox")
    return " · ".join(parts)


_STATES_TEXT: dict[int, tuple[tuple[Observation, ...], str]] = {}


def _states_text(observations: tuple[Observation, ...]) -> str:
    """`A: available · B: outage`, kept while the poll hands back the same observations
    (evaluate.Evaluator returns the very same tuple when nothing changed)."""
    key = id(observations)
    known = _STATES_TEXT.get(key)
    if known is not None and known[0] is observations:
        return known[1]
    text = " · ".join(f"{o.service}: {o.state}" for o in observations)
    if len(_STATES_TEXT) > 16:
        _STATES_TEXT.clear()
    _STATES_TEXT[key] = (observations, text)
    return text
