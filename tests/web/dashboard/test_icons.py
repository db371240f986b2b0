"""Icons render without an emoji font (issue 19): no template, stylesheet or script of the
dashboard carries an emoji or dingbat glyph (they rendered as empty boxes); every icon is inline
SVG from web/dashboard/icons.py, aria-hidden beside a word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smsrelay.web.dashboard import icons
from smsrelay.web.dashboard.render import status_badge

DASHBOARD = Path(icons.__file__).parent
# Dingbats, miscellaneous symbols and technical (⏸), arrows (↻ ↘), letterlike ℹ, and every emoji
# plane; arrows and shapes with fallbacks in any text font (→ ▲ ▼ ▸) stay.
GLYPHS = re.compile("[\u2139\u2194-\u21ff\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001ffff]")


@pytest.mark.parametrize("path", sorted(p for p in DASHBOARD.rglob("*") if p.suffix in (".html", ".css", ".js", ".py")),
                         ids=lambda p: p.name)
def test_no_font_dependent_glyph(path):
    found = [(n, m.group()) for n, line in enumerate(path.read_text().splitlines(), 1) for m in GLYPHS.finditer(line)
             if path.name != "icons.py"]  # its docstring names what it replaced
    assert found == [], found


def test_icons_are_inline_svg_hidden_from_screen_readers():
    badge = str(status_badge("failed"))
    assert badge.startswith('<svg class="icon icon-fail"') and 'aria-hidden="true"' in badge and badge.endswith(" failed")
    assert "<script" not in "".join(str(icons.icon(n)) for n in icons._SHAPES)
    with pytest.raises(KeyError):
        icons.icon("nonexistent")
