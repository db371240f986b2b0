"""Per-org spend caps (money and segments, per UTC day and month) and a price ceiling per
destination segment: guards that hold a message, never drop it.

Only orgs with an "OrgSpendPolicy" pay for them: dispatch's `send_facts` reads the policy with
the message (a primary-key probe), and for such an org the send is decided under the message's
lock and the org's spend lock: what the org has committed ("OrgSpendDay", written here when a
send passes) plus this message against each cap. A message that would pass a cap is held with
reason `spend_cap`, one to a dearer destination than the ceiling (or one of unknown price while
a ceiling is set) with `price_ceiling`. The workers' release loop leaves both alone
(releasable_messages); `release_spend_holds` releases an org's held messages, oldest first,
once the oldest would pass: at midnight UTC (a new day's cap, or a new month's), when a cap is
raised or the policy removed, or when the destination's price falls under the ceiling. Each
released message is decided again by dispatch, so a release can never overshoot a cap.

Committed spend is counted at the estimate (segments × the destination's cached price) when the
send passes; Twilio's own price, fetched later, is what usage reports.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import spend
from smsrelay.service import audit, jobs, problems
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

RELEASE_LOCK = 7361021
BATCH = 200
FIELDS = ("dailySpendCap", "monthlySpendCap", "dailySegmentCap", "monthlySegmentCap", "priceCeiling")
HOLDS = ("spend_cap", "price_ceiling")


def _today() -> date:
    return datetime.now(timezone.utc).date()


async def _used(conn: AsyncConnection, org_id: str, day: date) -> spend.Used:
    u = await sql.one(conn, "spend_used", org_id=org_id, day=day, month=day.replace(day=1))
    return spend.Used(int(u["daySegments"]), Decimal(u["dayCost"]), int(u["monthSegments"]), Decimal(u["monthCost"]))


async def _unit_price(conn: AsyncConnection, row: dict[str, Any]) -> Decimal | None:
    country = (row.get("metadata") or {}).get("country")
    if not country:
        return None
    found = await sql.one(conn, "destination_price", iso=country)
    return Decimal(found["price"]) if found else None


def _decide(policy: dict[str, Any], used: spend.Used, row: dict[str, Any], unit: Decimal | None) -> str | None:
    # The Pricing API's Messaging Countries price SMS: an MMS or WhatsApp message counts against the
    # segment caps only.
    sms = (row.get("channel") or "sms") == "sms"
    cost = (unit * row["segments"] if unit is not None else None) if sms else Decimal(0)
    return spend.cap_hold(policy if sms else {**policy, "priceCeiling": None}, used, row["segments"], cost,
                          unit if sms else Decimal(0))


async def hold_reason(conn: AsyncConnection, row: dict[str, Any]) -> str | None:
    """Inside dispatch's locked transaction: why the org's spend policy holds this message, or
    None, in which case the message is counted as committed (once, whatever re-runs follow)."""
    policy = row.get("spendPolicy")
    if not policy:
        return None
    await sql.one(conn, "spend_lock", org_id=row["orgId"])
    day = _today()
    unit = await _unit_price(conn, row)
    reason = _decide(policy, await _used(conn, row["orgId"], day), row, unit)
    if reason is None and not (row.get("metadata") or {}).get("spendCounted"):
        cost = unit * row["segments"] if unit is not None else Decimal(0)
        await sql.execute(conn, "spend_add", org_id=row["orgId"], day=day, segments=row["segments"], cost=cost)
        await sql.execute(conn, "merge_metadata", id=row["id"], metadata={"spendCounted": day.isoformat()})
    return reason


async def release_spend_holds(rt: Runtime) -> int:
    """Release, oldest first, the spend-held messages that fit under their org's caps together
    (counting each released one against the rest), and every hold of an org without a policy;
    a message still held whose reason changed (the ceiling lifted, a cap now holds it) says so.
    Dispatch decides each released message again. Returns how many were released."""
    async with rt.pool.connection() as conn, conn.transaction():
        if not (await sql.one(conn, "try_lock", key=RELEASE_LOCK))["locked"]:
            return 0
        ids = [r["id"] for r in await sql.all(conn, "spend_held_without_policy", limit=BATCH)]
        held = await sql.all(conn, "spend_releasable", limit=BATCH)
        day, policies, running, units = _today(), {}, {}, {}
        for r in held:
            org_id = r["orgId"]
            if org_id not in policies:
                policies[org_id] = await sql.one(conn, "spend_policy", org_id=org_id)
                running[org_id] = await _used(conn, org_id, day)
            country = (r["metadata"] or {}).get("country")
            if country not in units:
                units[country] = await _unit_price(conn, r)
            reason = _decide(policies[org_id], running[org_id], r, units[country])
            if reason is None:
                u, cost = running[org_id], (units[country] or Decimal(0)) * r["segments"]
                running[org_id] = spend.Used(u.day_segments + r["segments"], u.day_cost + cost,
                                             u.month_segments + r["segments"], u.month_cost + cost)
                ids.append(r["id"])
            elif reason != r["reason"]:
                hold = {**r["metadata"]["hold"], "reason": reason}
                await sql.execute(conn, "merge_metadata", id=r["id"], metadata={"hold": hold})
        for message_id in ids:
            await sql.execute(conn, "merge_metadata", id=message_id, metadata={"hold": None})
            await jobs.enqueue_send(conn, message_id)
    return len(ids)


# --- the policy ---------------------------------------------------------------------------
def _checked(changes: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key in FIELDS:
        value = changes.get(key)
        if value is None:
            out[key] = None
            continue
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            raise problems.INVALID_SPEND_POLICY(field=key, reason="must be a number") from None
        if not number.is_finite() or number < 0 or number > Decimal("1e8"):
            raise problems.INVALID_SPEND_POLICY(field=key, reason="must be between 0 and 100000000")
        if key.endswith("SegmentCap") and number != number.to_integral_value():
            raise problems.INVALID_SPEND_POLICY(field=key, reason="must be a whole number of segments")
        out[key] = int(number) if key.endswith("SegmentCap") else spend.money(number)
    return out


def view(policy: dict[str, Any] | None, org_id: str) -> dict[str, Any]:
    p = policy or {}
    return {"orgId": org_id, **{k: (None if p.get(k) is None else
                                    (int(p[k]) if k.endswith("SegmentCap") else spend.fmt(Decimal(p[k]))))
                                for k in FIELDS}}


async def get_policy(conn: AsyncConnection, org_id: str) -> dict[str, Any]:
    return view(await sql.one(conn, "spend_policy", org_id=org_id), org_id)


async def set_policy(conn: AsyncConnection, org_id: str, changes: dict[str, Any], *, actor: str = "system",
                     reason: str | None = None) -> dict[str, Any]:
    """Replace the org's policy with `changes` merged over the current one; all None removes it.
    A new policy first counts what the org already sent this month. Audited ("AuditLog")."""
    current = await sql.one(conn, "spend_policy", org_id=org_id) or {}
    merged = _checked({**{k: current.get(k) for k in FIELDS}, **changes})
    async with audit.change(conn, actor=actor, reason=reason, default_reason="spend caps"):
        if all(v is None for v in merged.values()):
            await sql.execute(conn, "delete_spend_policy", org_id=org_id)
            return view(None, org_id)
        if current:
            row = await sql.one(conn, "update_spend_policy", org_id=org_id, **merged)
        else:
            row = await sql.one(conn, "upsert_spend_policy", org_id=org_id, **merged)
        if not current:
            await sql.execute(conn, "seed_spend_days", org_id=org_id, month=_today().replace(day=1))
    return view(row, org_id)


async def used(conn: AsyncConnection, org_id: str) -> dict[str, Any]:
    u = await _used(conn, org_id, _today())
    return {"daySegments": u.day_segments, "dayCost": spend.fmt(u.day_cost),
            "monthSegments": u.month_segments, "monthCost": spend.fmt(u.month_cost)}
