"""What messages cost, as pure rules: a message's price or its estimate, usage totals, the spend
caps' decision and the reconciliation's comparison. No clock: callers pass the time."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterable

ZERO = Decimal(0)
CENT = Decimal("0.00001")  # Twilio prices to five decimals
# Twilio's usage categories for the channels it reports usage of (WhatsApp is not among them).
CATEGORY_OF_CHANNEL = {"sms": "sms-outbound", "mms": "mms-outbound"}


def money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)


def fmt(value: Decimal) -> str:
    return f"{money(value):.5f}"


def price_view(price: Any, unit: str | None, segments: int, destination_price: Any) -> dict[str, Any]:
    """The message resource's price: Twilio's once it has one (a negative decimal string, as
    Twilio signs charges), else an estimate from segments × the destination's price."""
    if price is not None:
        return {"price": fmt(Decimal(price)), "priceUnit": unit or "USD", "priceEstimated": False}
    if destination_price is None:
        return {"price": None, "priceUnit": None, "priceEstimated": False}
    return {"price": fmt(-Decimal(destination_price) * segments), "priceUnit": "USD", "priceEstimated": True}


# --- usage ------------------------------------------------------------------------------------
MAX_RANGE_DAYS = 366


class RangeError(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_day(raw: str | None, name: str) -> date | None:
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise RangeError("bad_date", f"{name} must be a date, YYYY-MM-DD (got {raw[:40]!r})") from None


def usage_range(start: date | None, end: date | None, today: date, *, default_days: int = 30) -> tuple[date, date]:
    """[start, end] inclusive, in UTC days: the last `default_days` by default."""
    end = end or today
    start = start or end - timedelta(days=default_days - 1)
    if start > end:
        raise RangeError("inverted", f"from ({start}) is after to ({end})")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise RangeError("too_long", f"a usage range covers at most {MAX_RANGE_DAYS} days")
    return start, end


def parse_since(raw: str) -> int:
    """`--since 30d` (or 7d, 12w): days."""
    raw = raw.strip().lower()
    units = {"d": 1, "w": 7}
    if len(raw) < 2 or raw[-1] not in units or not raw[:-1].isdigit() or int(raw[:-1]) <= 0:
        raise RangeError("bad_since", f"--since takes days or weeks, like 30d or 4w (got {raw[:20]!r})")
    days = int(raw[:-1]) * units[raw[-1]]
    if days > MAX_RANGE_DAYS:
        raise RangeError("too_long", f"a usage range covers at most {MAX_RANGE_DAYS} days")
    return days


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (datetime(start.year, start.month, start.day, tzinfo=timezone.utc),
            datetime(end.year, end.month, end.day, tzinfo=timezone.utc) + timedelta(days=1))


def summarise(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Totals and breakdowns (day, country, channel) of usage_rows; cost = billed + estimated."""
    total = {"messages": 0, "segments": 0, "billed": ZERO, "estimated": ZERO, "unpriced": 0}
    parts: dict[str, dict[str, dict[str, Any]]] = {k: defaultdict(lambda: {"messages": 0, "segments": 0, "cost": ZERO})
                                                   for k in ("day", "country", "channel")}
    for r in rows:
        total["messages"] += r["messages"]
        total["segments"] += r["segments"]
        total["billed"] += Decimal(r["billed"])
        total["estimated"] += Decimal(r["estimated"])
        total["unpriced"] += r["unpriced"]
        for key in parts:
            value = r[key].isoformat() if key == "day" else (r[key] or "unknown")
            p = parts[key][value]
            p["messages"] += r["messages"]
            p["segments"] += r["segments"]
            p["cost"] += Decimal(r["billed"]) + Decimal(r["estimated"])

    def listed(key: str) -> list[dict[str, Any]]:
        return [{key: k, "messages": v["messages"], "segments": v["segments"], "cost": fmt(v["cost"])}
                for k, v in sorted(parts[key].items())]

    return {"messages": total["messages"], "segments": total["segments"],
            "cost": fmt(total["billed"] + total["estimated"]), "billed": fmt(total["billed"]),
            "estimated": fmt(total["estimated"]), "unpricedMessages": total["unpriced"], "priceUnit": "USD",
            "byDay": listed("day"), "byCountry": listed("country"), "byChannel": listed("channel")}


def reconcile(ours: Iterable[dict[str, Any]], twilio: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per day and Twilio category: our messages, segments and billed price beside Twilio's
    usage records. A row differs when any of the three does (the unpriced explain a price gap
    until the fetch has caught up)."""
    mine: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {"count": 0, "usage": 0, "price": ZERO, "unpriced": 0})
    for r in ours:
        cat = CATEGORY_OF_CHANNEL.get(r["channel"])
        if cat:
            m = mine[(r["day"].isoformat(), cat)]
            m["count"] += r["messages"]
            m["usage"] += r["segments"]
            m["price"] += Decimal(r["billed"])
            m["unpriced"] += r["unpriced"]
    theirs = {(r["day"].isoformat() if hasattr(r["day"], "isoformat") else str(r["day"]), r["category"]): r for r in twilio}
    out = []
    for key in sorted(set(mine) | set(theirs)):
        m = mine.get(key, {"count": 0, "usage": 0, "price": ZERO, "unpriced": 0})
        t = theirs.get(key, {"count": 0, "usage": 0, "price": ZERO})
        if not (m["count"] or t["count"]):
            continue
        row = {"day": key[0], "category": key[1], "ours": {"messages": m["count"], "segments": m["usage"], "price": fmt(m["price"])},
               "twilio": {"messages": t["count"], "segments": t["usage"], "price": fmt(Decimal(t["price"]))},
               "unpriced": m["unpriced"]}
        row["matches"] = (m["count"], m["usage"], money(m["price"])) == (t["count"], t["usage"], money(t["price"]))
        out.append(row)
    return out


# --- spend caps -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Used:
    day_segments: int
    day_cost: Decimal
    month_segments: int
    month_cost: Decimal


def cap_hold(policy: dict[str, Any], used: Used, segments: int, cost: Decimal | None,
             unit_price: Decimal | None) -> str | None:
    """Why a message of `segments` (costing `cost`, at `unit_price` a segment) must wait under
    its org's policy: 'price_ceiling' (the destination is dearer than the ceiling, or its price
    is unknown while a ceiling is set) or 'spend_cap' (it would pass a daily or monthly cap)."""
    ceiling = policy.get("priceCeiling")
    if ceiling is not None and (unit_price is None or unit_price > Decimal(ceiling)):
        return "price_ceiling"
    for cap, used_now, adding in (("dailySegmentCap", used.day_segments, segments),
                                  ("monthlySegmentCap", used.month_segments, segments)):
        if policy.get(cap) is not None and used_now + adding > policy[cap]:
            return "spend_cap"
    for cap, used_now in (("dailySpendCap", used.day_cost), ("monthlySpendCap", used.month_cost)):
        # Of unknown cost (its destination not priced yet) it waits: a cap in money cannot be
        # kept by guessing. The price duty prices every open message's destination.
        if policy.get(cap) is not None and (cost is None or used_now + cost > Decimal(policy[cap])):
            return "spend_cap"
    return None
