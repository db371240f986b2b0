"""Figures and the printed table: each stage's figure next to the baseline that bounds it."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Figure:
    stage: str
    value: float  # the headline number, in `unit`
    unit: str
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    baseline: str | None = None  # key of another Figure (a baseline) this one is bounded by
    target: str = ""
    met: bool | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if 0 < abs(value) < 0.1:  # statements per message of a batch, say
        return f"{value:.3f}"
    return f"{value:.{digits}f}"


class Report:
    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {}
        self.memory: dict[str, float] = {}
        self.meta: dict[str, str] = {}
        self.extra: dict = {}  # the targets table, the cost by offered rate: saved as they are

    def add(self, key: str, fig: Figure) -> Figure:
        self.figures[key] = fig
        print(f"  {fig.stage}: {_num(fig.value)} {fig.unit}"
              + (f"  p50 {_num(fig.p50_ms)} ms  p99 {_num(fig.p99_ms)} ms" if fig.p99_ms is not None else "")
              + (f"  p95 {_num(fig.p95_ms)} ms" if fig.p95_ms is not None and fig.p99_ms is None else "")
              + (f"  [{fig.note}]" if fig.note else ""), flush=True)
        return fig

    def ratio(self, fig: Figure) -> float | None:
        base = self.figures.get(fig.baseline or "")
        if base is None or not base.value:
            return None
        return fig.value / base.value

    def rows(self) -> list[list[str]]:
        rows = []
        for fig in self.figures.values():
            ratio = self.ratio(fig)
            base = self.figures.get(fig.baseline or "")
            verdict = "-" if fig.met is None else ("met" if fig.met else "MISSED")
            rows.append([fig.stage, f"{_num(fig.value)} {fig.unit}", _num(fig.p50_ms), _num(fig.p95_ms),
                         _num(fig.p99_ms), base.stage if base else "-",
                         f"{ratio:.2f}" if ratio is not None else "-", fig.target or "-", verdict])
        return rows

    HEADER = ["stage", "figure", "p50 ms", "p95 ms", "p99 ms", "bounded by (baseline)", "ratio", "target", ""]

    def table(self) -> str:
        rows = [self.HEADER, *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.HEADER))]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        out = [line(rows[0]), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in rows[1:]]
        if self.memory:
            out += ["", "peak memory (RSS)"]
            for name, mib in sorted(self.memory.items()):
                out.append(f"  {name:<44} {mib:8.0f} MiB")
        return "\n".join(out)

    def markdown(self) -> str:
        rows = [self.HEADER, ["---"] * len(self.HEADER), *self.rows()]
        return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"meta": self.meta, "memory_mib": self.memory,
                                    "figures": {k: asdict(v) for k, v in self.figures.items()},
                                    **self.extra,
                                    "table_markdown": self.markdown()}, indent=2, default=str))
