"""Issue 14's targets table: each row's figure from this run, the in-run baseline it is bounded
by, their ratio, the issue's floor and whether it is met. A row whose stage did not run says
"not run"; in --quick mode nothing is judged (the sizes are too small to mean anything).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.report import Figure, Report, _num


@dataclass
class TargetRow:
    target: str
    figure: str
    baseline: str
    ratio: str
    floor: str
    verdict: str


@dataclass(frozen=True)
class E2EPoints:
    """Which end-to-end runs the table reads: the queueing-delay point, the saturation point and
    the run against a generated history (keys of Report figures, or None when not run)."""

    delay: str | None
    saturation: str | None
    history: str | None


NOT_RUN = "not run"


def _fig(report: Report, key: str | None) -> Figure | None:
    return report.figures.get(key) if key else None


def _verdict(ok: bool, quick: bool) -> str:
    if quick:
        return "quick: not judged"
    return "met" if ok else "MISSED"


def _per_op_ms(fig: Figure | None, names: tuple[str, ...]) -> float | None:
    """CPU-ms per operation of a baseline, summed over `names` ("postgres" = every server process)."""
    if fig is None or not fig.extra.get("count") or "cpu" not in fig.extra:
        return None
    cpu = fig.extra["cpu"]
    return sum(cpu.get(n, 0.0) for n in names) * 1000 / fig.extra["count"]


def cpu_floor(report: Report) -> tuple[float | None, float | None]:
    """(all processes, PostgreSQL) CPU-ms a message needs at least, from this run's baselines:
    its row and queue row inserted, claimed in a batch and deleted, three UPDATEs by sid (the
    result and two callbacks); three cheapest API requests (the accept and two callbacks) and
    one simulator create."""
    f = report.figures.get
    pg_parts = [_per_op_ms(f("base_insert_sq"), ("postgres",)), _per_op_ms(f("base_sq_claim"), ("postgres",)),
                _per_op_ms(f("base_update"), ("postgres",))]
    if any(p is None for p in pg_parts):
        return None, None
    pg = pg_parts[0] + pg_parts[1] + 3 * pg_parts[2]
    api = _per_op_ms(f("base_api"), ("api", "postgres"))
    sim = _per_op_ms(f("base_sim"), ("simulator",))
    if api is None or sim is None:
        return None, pg
    return pg + 3 * api + sim, pg


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}" if value is not None and base else "-"


def build(report: Report, points: E2EPoints, quick: bool) -> list[TargetRow]:
    rows: list[TargetRow] = []
    claim = report.figures.get("base_sq_claim")
    claim_text = f"{_num(claim.value)} rows/s ({claim.stage.removeprefix('baseline: ')})" if claim else NOT_RUN

    # 1. end to end: the saturation run gives the rate, the delay run the queueing delay p99.
    sat, delay = _fig(report, points.saturation), _fig(report, points.delay)
    if sat is None and delay is None:
        rows.append(TargetRow("end to end, open loop 60 s, 0 lost / 0 duplicated", NOT_RUN, claim_text, "-",
                              "≥ 400 msg/s, queueing delay p99 < 1 s at 300/s", NOT_RUN))
    else:
        parts, ok = [], True
        if sat is not None:
            parts.append(f"{_num(sat.value)} msg/s at {sat.extra['rate']:.0f}/s offered "
                         f"(lost {sat.extra['lost']}, dup {sat.extra['duplicated']})")
            ok = ok and sat.value >= 400 and sat.extra["none_lost"] and sat.extra["duration"] >= 60
        if delay is not None and delay is not sat:
            parts.append(f"queueing delay p99 {_num(delay.extra['queue_p99_ms'])} ms at {delay.extra['rate']:.0f}/s "
                         f"(lost {delay.extra['lost']}, dup {delay.extra['duplicated']})")
            ok = (ok and delay.extra["queue_p99_ms"] < 1000 and delay.extra["none_lost"]
                  and delay.extra["rate"] >= 300 and delay.extra["duration"] >= 60)
        else:
            ok = False  # the delay point was not measured
        rows.append(TargetRow("end to end, open loop 60 s, 0 lost / 0 duplicated", "; ".join(parts), claim_text,
                              _ratio(sat.value if sat else None, claim.value if claim else None),
                              "≥ 400 msg/s, queueing delay p99 < 1 s at 300/s", _verdict(ok, quick)))

    # 2. the same against a generated history.
    hist = _fig(report, points.history)
    if hist is None:
        rows.append(TargetRow('same, with 10M rows of history in "MessageLog"', NOT_RUN, claim_text, "-",
                              "≥ 350 msg/s", NOT_RUN))
    else:
        history_rows = hist.extra.get("history_rows", 0)
        ok = hist.value >= 350 and hist.extra["none_lost"] and history_rows >= 10_000_000
        rows.append(TargetRow(f'same, with {history_rows:,} rows of history in "MessageLog"',
                              f"{_num(hist.value)} msg/s at {hist.extra['rate']:.0f}/s offered "
                              f"(lost {hist.extra['lost']}, dup {hist.extra['duplicated']})", claim_text,
                              _ratio(hist.value, claim.value if claim else None), "≥ 350 msg/s", _verdict(ok, quick)))

    # 3. CPU per message end to end: the delay point (below saturation), else any run.
    cpu_key = next((k for k in (points.delay, points.saturation) if k), None)
    total, pg = _fig(report, f"{cpu_key}_cpu_total"), _fig(report, f"{cpu_key}_cpu_postgres")
    floor_total, floor_pg = cpu_floor(report)
    if total is None:
        rows.append(TargetRow("CPU per message, end to end, all processes", NOT_RUN, "-", "-",
                              "≤ 5 ms, of which PostgreSQL ≤ 1.5 ms", NOT_RUN))
    else:
        rate = _fig(report, cpu_key).extra["rate"]
        ok = total.value <= 5 and pg is not None and pg.value <= 1.5
        rows.append(TargetRow(
            "CPU per message, end to end, all processes",
            f"{_num(total.value)} ms, of which PostgreSQL {_num(pg.value) if pg else 'not measured'} ms "
            f"(at {rate:.0f}/s offered)",
            (f"{_num(floor_total)} ms, PostgreSQL {_num(floor_pg)} ms (the baselines' work per message)"
             if floor_pg is not None else "baselines not run"),
            f"{_ratio(total.value, floor_total)}, PostgreSQL {_ratio(pg.value if pg else None, floor_pg)}",
            "≤ 5 ms, of which PostgreSQL ≤ 1.5 ms", _verdict(ok, quick)))

    # 4–6. the single send, the batch, the callbacks.
    for key, name, floor, judge in (
        ("send_api", "single send, row committed, p99", "≥ 1,500/s, p99 < 50 ms",
         lambda f: f.value >= 1500 and (f.p99_ms or 1e9) < 50),
        ("send_api_batch", "batch send", "≥ 25,000 msg/s", lambda f: f.value >= 25000),
        ("callbacks", "status callbacks, raw event stored and status applied", "≥ 3,000/s",
         lambda f: f.value >= 3000),
    ):
        fig = report.figures.get(key)
        base = report.figures.get(fig.baseline or "") if fig else None
        if fig is None:
            rows.append(TargetRow(name, NOT_RUN, "-", "-", floor, NOT_RUN))
            continue
        ok = judge(fig) and fig.extra.get("committed_ok", True)
        rows.append(TargetRow(name, f"{_num(fig.value)} {fig.unit}, p99 {_num(fig.p99_ms)} ms",
                              f"{_num(base.value)} {base.unit} ({base.stage.removeprefix('baseline: ')})" if base else "-",
                              _ratio(fig.value, base.value if base else None), floor, _verdict(ok, quick)))

    # 7. accept latency while end to end is saturated.
    accept = _fig(report, f"{points.saturation}_accept") if points.saturation else None
    health = report.figures.get("base_api")
    if accept is None:
        rows.append(TargetRow("accept latency while end to end is saturated (500/s offered)", NOT_RUN, "-", "-",
                              "p99 < 100 ms", NOT_RUN))
    else:
        rate = _fig(report, points.saturation).extra["rate"]
        ok = (accept.p99_ms or 1e9) < 100 and rate >= 500
        rows.append(TargetRow(f"accept latency while end to end is saturated ({rate:.0f}/s offered)",
                              f"p50 {_num(accept.p50_ms)} ms, p99 {_num(accept.p99_ms)} ms",
                              f"p99 {_num(health.p99_ms)} ms (API GET /healthz, closed loop)" if health else "-",
                              _ratio(accept.p99_ms, health.p99_ms if health else None), "p99 < 100 ms",
                              _verdict(ok, quick)))
    return rows


HEADER = ["target (issue 14)", "this run", "in-run baseline", "ratio", "floor", ""]


def table(rows: list[TargetRow]) -> str:
    cells = [HEADER, *([r.target, r.figure, r.baseline, r.ratio, r.floor, r.verdict] for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    line = lambda c: "  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip()  # noqa: E731
    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *(line(c) for c in cells[1:])])


def markdown(rows: list[TargetRow]) -> str:
    cells = [HEADER, ["---"] * len(HEADER), *([r.target, r.figure, r.baseline, r.ratio, r.floor, r.verdict]
                                               for r in rows)]
    return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in cells)


def as_json(rows: list[TargetRow]) -> list[dict]:
    return [asdict(r) for r in rows]
