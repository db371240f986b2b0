"""Templates, formatting filters and the geometry of the inline SVG charts.

Charts are drawn on the server as plain SVG: no chart library, nothing fetched at run time,
and each chart has a text summary and a data table for screen readers and for printing.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from smsrelay.web.dashboard.icons import icon

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

W, H = 640, 170
PAD_L, PAD_R, PAD_T, PAD_B = 44, 10, 10, 24


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000):
        if value <= step * 4:
            return step * 4
    return value


def _x(i: int, n: int) -> float:
    span = W - PAD_L - PAD_R
    return PAD_L + (span * i / max(n - 1, 1))


def _y(value: float, top: float) -> float:
    return PAD_T + (H - PAD_T - PAD_B) * (1 - value / top)


def _x_ticks(points: list[dict[str, Any]], bucket: timedelta) -> list[tuple[float, str]]:
    n = len(points)
    fmt = "%a %H:%M" if bucket >= timedelta(hours=1) else "%H:%M"
    step = max(1, n // 6)
    return [(_x(i, n), points[i]["at"].astimezone(timezone.utc).strftime(fmt)) for i in range(0, n, step)]


def line_chart(points: list[dict[str, Any]], lines: list[tuple[str, str, str]], bucket: timedelta,
               *, percent: bool = False) -> dict[str, Any]:
    """lines: (key, label, css class). Gaps (None) break a line rather than drawing zero."""
    top = 1.0 if percent else _nice_max(max((p[k] or 0 for p in points for k, _, _ in lines), default=0))
    n = len(points)
    out = []
    for key, label, css in lines:
        d, pen = [], "M"
        for i, p in enumerate(points):
            if p[key] is None:
                pen = "M"
                continue
            # "l0,0" after a move: a point with no neighbour still shows, as a round dot.
            d.append(f"{pen}{_x(i, n):.1f},{_y(p[key], top):.1f}" + (" l0,0" if pen == "M" else ""))
            pen = "L"
        out.append({"label": label, "css": css, "d": " ".join(d)})
    ticks = [(_y(top * f, top), f"{top * f * 100:.0f}%" if percent else f"{top * f:g}") for f in (0, 0.5, 1)]
    return {"w": W, "h": H, "lines": out, "yticks": ticks, "xticks": _x_ticks(points, bucket),
            "left": PAD_L, "right": W - PAD_R, "bottom": H - PAD_B}


def bar_chart(points: list[dict[str, Any]], key: str, bucket: timedelta) -> dict[str, Any]:
    top = _nice_max(max((p[key] for p in points), default=0))
    n = len(points)
    slot = (W - PAD_L - PAD_R) / max(n, 1)
    bars = []
    for i, p in enumerate(points):
        if p[key]:
            y = _y(p[key], top)
            bars.append({"x": PAD_L + i * slot + slot * 0.15, "y": y, "w": slot * 0.7, "h": H - PAD_B - y,
                         "title": f"{p['at'].astimezone(timezone.utc):%H:%M} UTC: {p[key]}"})
    ticks = [(_y(top * f, top), f"{top * f:g}") for f in (0, 0.5, 1)]
    xt = [(PAD_L + i * slot + slot / 2, label) for i, (_, label) in
          zip(range(0, n, max(1, n // 6)), _x_ticks(points, bucket))]
    return {"w": W, "h": H, "bars": bars, "yticks": ticks, "xticks": xt, "left": PAD_L, "right": W - PAD_R,
            "bottom": H - PAD_B}


# --- filters ---------------------------------------------------------------------------------

def fmt_time(value: datetime | str | None, with_date: bool = True) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC" if with_date else "%H:%M:%S")


def fmt_pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def age_of(value: datetime | None) -> str:
    if value is None:
        return "–"
    return fmt_age((datetime.now(timezone.utc) - value).total_seconds())


# Status words with an icon, so no state is told by colour alone.
STATUS_ICONS = {"delivered": "ok", "read": "ok", "received": "inbound", "failed": "fail", "undelivered": "fail",
                "queued": "pending", "sending": "pending", "accepted": "pending", "scheduled": "pending", "sent": "sent"}


def status_badge(status: str | None) -> Markup:
    return icon(STATUS_ICONS.get(status or "", "dot")) + Markup(" ") + (status or "–")


templates.env.filters.update(time=fmt_time, pct=fmt_pct, age=fmt_age, age_of=age_of, badge=status_badge)
templates.env.globals.update(line_chart=line_chart, bar_chart=bar_chart, icon=icon)
