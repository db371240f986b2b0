"""The dashboard's icons as inline SVG, drawn here: a state is never told by a glyph the
operator's machine may lack. The emoji and dingbats used before (⏸ 🔔 ✔ ✖ ⚠ ↻ ℹ) rendered as
empty boxes where no emoji font is installed (a server's browser, a minimal desktop), and nothing
may come from a CDN. Each icon is aria-hidden and always sits beside a word that says the same."""

from __future__ import annotations

from markupsafe import Markup

_STROKE = 'fill="none" stroke="currentColor" stroke-linecap="round" stroke-linejoin="round"'

# 16 × 16 drawings, in currentColor so they take the colour of the text they sit in.
_SHAPES = {
    "ok": f'<path d="M3 8.5l3.2 3.2L13 4.8" {_STROKE} stroke-width="2"/>',
    "fail": f'<path d="M4 4l8 8M12 4l-8 8" {_STROKE} stroke-width="2"/>',
    "warn": f'<path d="M8 1.8l6.6 12H1.4z" {_STROKE} stroke-width="1.5"/>'
            f'<path d="M8 6.2v3.6M8 12v.1" {_STROKE} stroke-width="1.7"/>',
    "pause": f'<path d="M5.2 3v10M10.8 3v10" {_STROKE} stroke-width="2.4"/>',
    "retry": f'<path d="M13 8.5A5 5 0 1 1 11.2 4" {_STROKE} stroke-width="1.8"/>'
             f'<path d="M12 1.5V4.6H8.9" {_STROKE} stroke-width="1.8"/>',
    "bell": '<path d="M3.5 11.5V7.5a4.5 4.5 0 0 1 9 0v4l1.3 1.3H2.2z" fill="currentColor"/>'
            '<circle cx="8" cy="14.4" r="1.4" fill="currentColor"/>',
    "info": f'<circle cx="8" cy="8" r="6.4" {_STROKE} stroke-width="1.5"/>'
            f'<path d="M8 7.2v4.4M8 4.6v.1" {_STROKE} stroke-width="1.8"/>',
    "inbound": f'<path d="M4 4l8 8M12 6.2V12H6.2" {_STROKE} stroke-width="1.8"/>',
    "sent": f'<path d="M2.5 8h10M8.8 4.2L12.6 8l-3.8 3.8" {_STROKE} stroke-width="1.8"/>',
    "pending": '<circle cx="3.5" cy="8" r="1.4" fill="currentColor"/><circle cx="8" cy="8" r="1.4" fill="currentColor"/>'
               '<circle cx="12.5" cy="8" r="1.4" fill="currentColor"/>',
    "dot": '<circle cx="8" cy="8" r="2.2" fill="currentColor"/>',
}


def icon(name: str) -> Markup:
    shape = _SHAPES[name]  # a typo in a template fails its render, not silently
    return Markup(f'<svg class="icon icon-{name}" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" '
                  f'focusable="false">{shape}</svg>')
