"""Read models for the operators' dashboard (web/dashboard): what each page shows.

Every "MessageLog" read is bounded by a window of at most 7 days on the database's clock and
goes through a named query whose WHERE clause leads with an indexed column, so a page costs
the same with 10 million rows as with ten thousand outside its window. Sections fed by other
issues' modules (alerts, balance, diagnosis) come from those modules' own functions and simply
stay empty while their data does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import catalogue, channels
from smsrelay.domain import phone, rates
from smsrelay.service.outbound import guards
from smsrelay.service.operations import rollup
from smsrelay.service import problems
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

try:  # issue 6; the overview shows alerts and the balance once they exist
    from smsrelay.service.operations import alerts as _alerts
    from smsrelay.service.operations import metrics as _metrics
except ImportError:  # pragma: no cover - depends on what has landed
    _alerts = _metrics = None

DELIVERED, FAILED = rates.DELIVERED, rates.FAILED
# The alert rule's window for "outbound flat while inbound continues".
FLAT_SECONDS = 900
TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Span:
    label: str
    length: timedelta
    bucket: timedelta
    title: str


WINDOWS = {
    "1h": Span("1h", timedelta(hours=1), timedelta(minutes=2), "last hour"),
    # Buckets of whole hours let the 24-hour and 7-day views read the hourly rollup.
    "24h": Span("24h", timedelta(hours=24), timedelta(hours=1), "last 24 hours"),
    "7d": Span("7d", timedelta(days=7), timedelta(hours=4), "last 7 days"),
}


@dataclass(frozen=True)
class Window:
    span: Span
    since: datetime
    until: datetime

    def params(self) -> dict[str, datetime]:
        return {"since": self.since, "until": self.until}

    def closed(self) -> tuple[datetime, datetime]:
        """[since, until) as the rollup's (since, until]: the same rows at microsecond resolution."""
        return self.since - TICK, self.until - TICK


def channel_of(value: str | None) -> str | None:
    """The pages' ?channel= (sms, mms, whatsapp; empty: every channel), or 422 invalid_channel."""
    if not value:
        return None
    if value not in channels.CHANNELS:
        raise problems.INVALID_CHANNEL(message=f"channel is one of {', '.join(channels.CHANNELS)}.", field="channel")
    return value


async def window(conn: AsyncConnection, label: str | None) -> Window:
    span = WINDOWS.get(label or "1h")
    if span is None:
        raise problems.INVALID_WINDOW(windows=", ".join(WINDOWS))
    now = (await sql.one(conn, "database_now"))["now"]
    # Whole buckets, so the first bar is not a fraction of the others.
    since = rollup.floor(now - span.length, span.bucket) + span.bucket
    return Window(span, since, now + timedelta(microseconds=1))


def series(rows: list[dict[str, Any]], w: Window) -> list[dict[str, Any]]:
    """Per-bucket counts with the empty buckets filled in, oldest first."""
    points: dict[datetime, dict[str, Any]] = {}
    at = w.since
    while at < w.until:
        points[at] = {"at": at, "outbound": 0, "inbound": 0, "delivered": 0, "failed": 0}
        at += w.span.bucket
    for r in rows:
        p = points.get(r["at"])
        if p is None:
            continue
        p[r["direction"]] += r["count"]
        if r["direction"] == "outbound" and r["status"] in DELIVERED:
            p["delivered"] += r["count"]
        elif r["direction"] == "outbound" and r["status"] in FAILED:
            p["failed"] += r["count"]
    out = list(points.values())
    for p in out:
        p["rate"] = rates.delivery_rate(p["delivered"], p["delivered"] + p["failed"])
    return out


def totals(points: list[dict[str, Any]]) -> dict[str, Any]:
    t = {k: sum(p[k] for p in points) for k in ("outbound", "inbound", "delivered", "failed")}
    t["rate"] = rates.delivery_rate(t["delivered"], t["delivered"] + t["failed"])
    return t


def describe(code: str | None) -> dict[str, Any]:
    if not code:
        return {"meaning": "No error code recorded", "action": "Open a message to see its callbacks.",
                "retryable": False, "cause": "none", "known": False}
    entry = catalogue.lookup(code)
    known = entry is not None
    entry = entry or catalogue.describe_unknown(code)
    return {"meaning": entry.meaning, "action": entry.action, "retryable": entry.retryable,
            "maxRetries": entry.max_retries, "cause": entry.cause, "known": known}


async def _org_names(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in await sql.all(conn, "list_orgs")}


# --- overview --------------------------------------------------------------------------------

async def kill_switch(conn: AsyncConnection, rt: Runtime) -> dict[str, Any]:
    paused = await guards.paused(conn)
    return {"featureEnabled": rt.settings.feature_sms_enabled, "paused": paused,
            "sending": rt.settings.feature_sms_enabled and not paused}


async def balance(conn: AsyncConnection) -> dict[str, Any] | None:
    """The balance the scheduler caches (issue 6); never fetched from Twilio per page view."""
    if _metrics is None:
        return None
    row = await sql.one(conn, "get_system_setting", key=_metrics.BALANCE_KEY)
    if not row:
        return None
    value = dict(row["value"])
    spend = _metrics.balance_spend(value)
    value["spendPerHour"] = spend
    value["runwayHours"] = value["balance"] / spend if spend else None
    return value


async def firing_alerts(rt: Runtime) -> list[dict[str, Any]] | None:
    if _alerts is None:
        return None
    return await _alerts.list_alerts(rt, state="firing", limit=20)


def fold_errors(rows: list[dict[str, Any]], names: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """rollup.error_hits rows → one entry per code with the orgs and numbers it hit."""
    codes: dict[str | None, dict[str, Any]] = {}
    for r in rows:
        c = codes.setdefault(r["code"], {"code": r["code"], "count": 0, "failed": 0, "undelivered": 0,
                                         "orgs": {}, "numbers": {}, "lastAt": r["last_at"], **describe(r["code"])})
        c["count"] += r["count"]
        c[r["status"]] += r["count"]
        c["lastAt"] = max(c["lastAt"], r["last_at"])
        org = c["orgs"].setdefault(r["orgId"], {"id": r["orgId"], "count": 0,
                                                "name": names.get(r["orgId"], {}).get("name", r["orgId"])})
        org["count"] += r["count"]
        number = r["from"] or "(messaging service)"
        c["numbers"][number] = c["numbers"].get(number, 0) + r["count"]
    out = sorted(codes.values(), key=lambda c: -c["count"])
    for c in out:
        c["orgs"] = sorted(c["orgs"].values(), key=lambda o: -o["count"])
        c["numbers"] = sorted(c["numbers"].items(), key=lambda kv: -kv[1])
    return out


def masked(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its customer's number masked as the CLI and the logs mask it (phone.mask);
    only an audited reveal (reveal_number) shows it in full."""
    field = phone.customer_field(row.get("direction"))
    return {**row, field: phone.mask(row[field])} if row.get(field) else row


def _without(number: str, value: Any) -> Any:
    """A raw payload (a callback, metadata) with every copy of one number masked."""
    if isinstance(value, str):
        return value.replace(number, phone.mask(number))
    if isinstance(value, dict):
        return {k: _without(number, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without(number, v) for v in value]
    return value


async def overview(rt: Runtime, label: str | None, channel: str | None = None) -> dict[str, Any]:
    """The delivery figures (series, totals, error codes, recent failures) of one channel when
    given; the kill switch, holds and flow are the pipeline's, shared by every channel."""
    channel = channel_of(channel)
    async with rt.pool.connection() as conn:
        w = await window(conn, label)
        points = series(await rollup.series(conn, *w.closed(), w.span.bucket, channel=channel), w)
        flow = await sql.one(conn, "dash_flow", seconds=FLAT_SECONDS)
        held = await sql.all(conn, "dash_held")
        switch = await kill_switch(conn, rt)
        money = await balance(conn)
        names = await _org_names(conn)
        errors = fold_errors(await rollup.error_hits(conn, *w.closed(), channel=channel), names)
        recent = await sql.all(conn, "dash_recent_failures", limit=10, channel=channel, **w.params())
    return {"window": w, "channel": channel, "series": points, "totals": totals(points), "held": held,
            "heldTotal": sum(h["count"] for h in held), "switch": switch, "balance": money,
            "flow": {**flow, "flat": flow["inbound"] > 0 and flow["handed"] == 0, "minutes": FLAT_SECONDS // 60},
            "alerts": await firing_alerts(rt), "errors": errors[:8], "recent": [masked(r) for r in recent],
            "names": names,
            "disabledOrgs": [o for o in names.values() if o["smsDisabled"]]}


# --- orgs ------------------------------------------------------------------------------------

ORG_SORTS = ("name", "total", "delivered", "failed", "undelivered", "rate")


async def orgs_table(rt: Runtime, label: str | None, sort: str = "failed", desc: bool = True,
                     channel: str | None = None) -> dict[str, Any]:
    """The runbook's step-4 table, with every org (also those without traffic) and its settings;
    of one channel when given, with that channel's switch as "disabled"."""
    if sort not in ORG_SORTS:
        sort = "failed"
    channel = channel_of(channel)
    async with rt.pool.connection() as conn:
        w = await window(conn, label)
        outcomes = rollup.by_org(await rollup.outcomes(conn, *w.closed(), channel=channel))
        names = await _org_names(conn)
    rows = []
    for org_id, org in names.items():
        o = outcomes.get(org_id) or {"total": 0, "delivered": 0, "failed": 0, "undelivered": 0, "open": 0}
        final = o["delivered"] + o["failed"] + o["undelivered"]
        rows.append({**org, **{k: o[k] for k in ("total", "delivered", "failed", "undelivered", "open")},
                     "rate": rates.delivery_rate(o["delivered"], final),
                     "disabled": bool(org.get(channels.DISABLED_COLUMN[channel or channels.SMS]))})

    def key(r: dict[str, Any]) -> Any:
        value = r[sort]
        return (value is not None, value.lower() if isinstance(value, str) else (value or 0))

    rows.sort(key=key, reverse=desc)
    return {"window": w, "channel": channel, "orgs": rows, "sort": sort, "desc": desc}


async def org_detail(rt: Runtime, org_id: str, label: str | None, channel: str | None = None) -> dict[str, Any]:
    channel = channel_of(channel)
    async with rt.pool.connection() as conn:
        org = await sql.one(conn, "get_org", org_id=org_id)
        if org is None:
            raise problems.ORG_NOT_FOUND(org_id=org_id)
        org.pop("inboundWebhookSecret", None)  # a secret has no business on a screen
        w = await window(conn, label)
        points = series(await rollup.series(conn, *w.closed(), w.span.bucket, org_id=org_id, channel=channel), w)
        senders = await sql.all(conn, "org_senders", org_id=org_id)
        failures = await sql.all(conn, "dash_org_failures", org_id=org_id, limit=20, channel=channel, **w.params())
        audit = await sql.all(conn, "dash_org_audit", org_id=org_id)
    return {"org": org, "window": w, "channel": channel, "series": points, "totals": totals(points), "senders": senders,
            "failures": [masked(f) for f in failures], "audit": audit}


# --- errors ----------------------------------------------------------------------------------

async def error_codes(rt: Runtime, label: str | None, channel: str | None = None) -> dict[str, Any]:
    channel = channel_of(channel)
    async with rt.pool.connection() as conn:
        w = await window(conn, label)
        names = await _org_names(conn)
        codes = fold_errors(await rollup.error_hits(conn, *w.closed(), channel=channel), names)
    return {"window": w, "channel": channel, "codes": codes, "total": sum(c["count"] for c in codes)}


# --- messages --------------------------------------------------------------------------------

SEARCH_LIMIT = 100


@dataclass(frozen=True)
class Search:
    id: str | None = None
    to: str | None = None
    org: str | None = None
    status: str | None = None
    direction: str = "outbound"
    window: str = "24h"
    channel: str | None = None  # sms, mms, whatsapp (issue 18)

    @property
    def empty(self) -> bool:
        return not (self.id or self.to or self.org or self.status)


async def find_message(conn: AsyncConnection, ident: str) -> dict[str, Any] | None:
    ident = ident.strip()
    if ident[:2] in ("SM", "MM"):
        return await sql.one(conn, "dash_message_by_sid", sid=ident)
    return await sql.one(conn, "get_message_any_org", id=ident)


def _normalise_to(raw: str) -> str:
    check = phone.check(raw.strip(), "US")
    return check.e164 if check.valid and check.e164 else raw.strip()


async def search(rt: Runtime, q: Search) -> dict[str, Any]:
    """One index per search shape: "to", ("orgId", "createdAt"), ("direction", "status", "createdAt")."""
    if q.direction not in ("outbound", "inbound"):
        raise problems.INVALID_DIRECTION()
    async with rt.pool.connection() as conn:
        w = await window(conn, q.window)
        if q.id:
            row = await find_message(conn, q.id)
            return {"window": w, "exact": row, "rows": [masked(row)] if row else []}
        common = {"since": w.since, "limit": SEARCH_LIMIT, "status": q.status or None, "channel": q.channel}
        if q.to:
            rows = await sql.all(conn, "dash_messages_by_to", to=_normalise_to(q.to), org_id=q.org or None, **common)
        elif q.org:
            rows = await sql.all(conn, "dash_messages_by_org", org_id=q.org, **common)
        elif q.status:
            rows = await sql.all(conn, "dash_messages_by_status", direction=q.direction, **common)
        else:
            rows = await sql.all(conn, "dash_messages_recent", direction=q.direction, since=w.since, limit=SEARCH_LIMIT,
                                 channel=q.channel)
    return {"window": w, "exact": None, "rows": [masked(r) for r in rows]}


async def message_detail(rt: Runtime, message_id: str, *, reveal_for: str | None = None,
                         reason: str | None = None) -> dict[str, Any]:
    """A message as an operator sees it: the customer's number masked everywhere on the page
    (raw callbacks and metadata too), unless `reveal_for` names the operator who asked to see
    it, which "AuditLog" records (action "reveal_number") before anything is shown."""
    async with rt.pool.connection() as conn:
        row = await find_message(conn, message_id)
        if row is None:
            raise problems.MESSAGE_NOT_FOUND(message_id=message_id)
        events = await sql.all(conn, "message_events", message_id=row["id"])
        org = await sql.one(conn, "get_org", org_id=row["orgId"])
        if reveal_for:
            await sql.execute(conn, "insert_audit", table_name="MessageLog", org_id=row["orgId"],
                              action="reveal_number", actor=reveal_for, reason=reason or None, before=None,
                              after={"messageId": row["id"], "field": phone.customer_field(row["direction"])})
    meta = row.get("metadata") or {}
    number = row.get(phone.customer_field(row["direction"]))
    if not reveal_for and number:
        row, events, meta = masked(row), [_without(number, e) for e in events], _without(number, meta)
    return {"message": row, "events": events, "orgName": org["name"] if org else row["orgId"],
            "error": describe(meta.get("twilioErrorCode")) if meta.get("twilioErrorCode") else None,
            "meta": meta, "revealed": bool(reveal_for and number)}
