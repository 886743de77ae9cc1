"""`/badge/{service}.svg` and `.json` (shields.io's endpoint schema). Pure.

The SVG is a flat two-part badge in the style people know from shields.io; every text
is escaped for XML (and cleaned of controls and bidi overrides) before it is placed.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape, quoteattr

from statuswatch.model import State
from statuswatch.web.page import STATE_WORDS, clean_line

SVG_TYPE = "image/svg+xml; charset=utf-8"
# shields.io named colours, and the hex values drawn in our own SVG.
SHIELDS = {
    State.AVAILABLE: ("brightgreen", "#2da44e"),
    State.PERFORMANCE: ("yellow", "#bf8700"),
    State.ISSUE: ("yellow", "#bf8700"),
    State.OUTAGE: ("red", "#cf222e"),
    State.MAINTENANCE: ("lightgrey", "#6e7781"),
    State.UNKNOWN: ("inactive", "#9f9f9f"),
}
LABEL_COLOUR = "#555"


def _width(text: str) -> int:
    # Verdana 11px averages ~6.5 px per character; wide glyphs are rare in service names.
    return int(len(text) * 6.5) + 12


def svg(label: str, message: str, colour: str) -> bytes:
    label, message = clean_line(label, 60), clean_line(message, 40)
    left, right = _width(label), _width(message)
    total = left + right
    title = escape(f"{label}: {message}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img"'
        f" aria-label={quoteattr(f'{label}: {message}')}>"
        f"<title>{title}</title>"
        f'<rect width="{left}" height="20" fill="{LABEL_COLOUR}"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif"'
        ' font-size="11">'
        f'<text x="{left / 2:.1f}" y="14">{escape(label)}</text>'
        f'<text x="{left + right / 2:.1f}" y="14">{escape(message)}</text>'
        "</g></svg>"
    ).encode()


def state_svg(service: str, state: State) -> bytes:
    return svg(service, STATE_WORDS[state].lower(), SHIELDS[state][1])


def unknown_service_svg() -> bytes:
    return svg("statuswatch", "unknown service", SHIELDS[State.UNKNOWN][1])


def endpoint_json(service: str, state: State) -> bytes:
    """https://shields.io/badges/endpoint-badge: schemaVersion, label, message, color."""
    return json.dumps(
        {
            "schemaVersion": 1,
            "label": clean_line(service, 60),
            "message": STATE_WORDS[state].lower(),
            "color": SHIELDS[state][0],
            "isError": state is State.UNKNOWN,
        },
        ensure_ascii=False,
    ).encode()
