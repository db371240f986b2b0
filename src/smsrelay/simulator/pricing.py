"""What the simulated account is charged, and the two APIs that say so.

- A message's price: its destination country's price per segment (an MMS or a WhatsApp message
  is one, at the channel's price), charged to the balance when it is sent and shown on the
  resource only once it is final (`price` a negative decimal string, "-0.00790", as Twilio's;
  a failed message Twilio never handed to a carrier costs "0.00000"). Callbacks carry no price.
- The Pricing API's Messaging Countries (https://pricing.twilio.com/v1/Messaging/Countries and
  /{IsoCountry}), reached at /pricing/v1/... (the adapter's rewrite of pricing.twilio.com).
- The Usage Records API (/2010-04-01/Accounts/{sid}/Usage/Records[/Daily].json) over the ledger:
  per category (sms-outbound, mms-outbound, and sms/mms for the same), `count` the messages,
  `usage` the segments, `price` the total charged (positive, as Twilio reports usage), per day
  of sending in UTC.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from fastapi import APIRouter, Request

from .engine import Engine, TwilioFault
from .prices import CATEGORIES, COUNTRY_PRICES, DESCRIPTIONS, country_json
from .resources import API, API_VERSION, page_json

router = APIRouter()


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    from .api import check_access  # api imports this module's router; a late import breaks the cycle

    check_access(engine, request.headers.get("authorization", ""), engine.settings.twilio_account_sid, request.url.path)
    return engine


@router.get("/pricing/v1/Messaging/Countries")
def list_countries(request: Request):
    _engine(request)
    q = request.query_params
    try:
        size, page = max(1, min(int(q.get("PageSize", 50)), 1000)), max(0, int(q.get("Page", 0)))
    except ValueError:
        raise TwilioFault(20001, 400, "Invalid paging parameters") from None
    isos = sorted(COUNTRY_PRICES)
    items = [{"country": COUNTRY_PRICES[i][0], "iso_country": i,
              "url": f"https://pricing.twilio.com/v1/Messaging/Countries/{i}"} for i in isos[page * size:(page + 1) * size]]
    base = "https://pricing.twilio.com/v1/Messaging/Countries"
    more = (page + 1) * size < len(isos)
    return {"countries": items, "meta": {
        "first_page_url": f"{base}?PageSize={size}&Page=0", "key": "countries",
        "next_page_url": f"{base}?PageSize={size}&Page={page + 1}" if more else None, "page": page,
        "page_size": size, "previous_page_url": f"{base}?PageSize={size}&Page={page - 1}" if page else None,
        "url": f"{base}?PageSize={size}&Page={page}"}}


@router.get("/pricing/v1/Messaging/Countries/{IsoCountry}")
def fetch_country(IsoCountry: str, request: Request):
    _engine(request)
    iso = IsoCountry.upper()
    if len(iso) != 2 or not iso.isalpha():
        raise TwilioFault(20404, 404, f"The requested resource {request.url.path} was not found")
    return country_json(iso)


def _day(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise TwilioFault(20001, 400, f"{name} must be a date, YYYY-MM-DD") from None


def usage_records(engine: Engine, category: str | None, start: date | None, end: date | None,
                  daily: bool) -> list[dict]:
    """One record per category (per day with `daily`) over the priced outbound messages."""
    cats = [category] if category else list(CATEGORIES)
    by: dict[tuple[str, date | None], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
    days: set[date] = set()
    for m in engine.state.messages.values():
        if not m.direction.startswith("outbound") or m.date_sent is None or m.price is None:
            continue
        d = datetime.fromtimestamp(m.date_sent, tz=timezone.utc).date()
        if (start and d < start) or (end and d > end):
            continue
        days.add(d)
        for cat in cats:
            if CATEGORIES.get(cat) == m.channel:
                acc = by[(cat, d if daily else None)]
                acc[0] += 1
                acc[1] += m.num_segments
                acc[2] += -Decimal(m.price)
    today = datetime.now(timezone.utc).date()
    first, last = start or min(days, default=today), end or max(days, default=today)
    spans = [(first + timedelta(days=i),) * 2 for i in range((last - first).days + 1)] if daily else [(first, last)]
    base = f"{API}/Accounts/{engine.state.account_sid}/Usage/Records"
    out = []
    for cat in cats:
        for s, e in spans:
            n, segs, price = by.get((cat, s if daily else None), (0, 0, Decimal(0)))
            out.append({
                "account_sid": engine.state.account_sid, "api_version": API_VERSION,
                "as_of": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00"), "category": cat,
                "count": str(n), "count_unit": "messages", "description": DESCRIPTIONS.get(cat, cat),
                "end_date": e.isoformat(), "price": f"{price:.5f}", "price_unit": "usd",
                "start_date": s.isoformat(), "subresource_uris": {"daily": f"{base}/Daily.json?Category={cat}"},
                "uri": f"{base}{'/Daily' if daily else ''}.json?Category={cat}&StartDate={s}&EndDate={e}",
                "usage": str(segs), "usage_unit": "segments",
            })
    return out


def _usage_page(request: Request, AccountSid: str, daily: bool) -> dict:
    engine: Engine = request.app.state.engine
    from .api import check_access

    check_access(engine, request.headers.get("authorization", ""), AccountSid, request.url.path)
    q = request.query_params
    category = q.get("Category") or None
    if category is not None and category not in CATEGORIES:
        rows: list[dict] = []  # Twilio lists nothing for a category it has no usage in
    else:
        rows = usage_records(engine, category, _day(q.get("StartDate"), "StartDate"), _day(q.get("EndDate"), "EndDate"), daily)
    try:
        size, page = max(1, min(int(q.get("PageSize", 50)), 1000)), max(0, int(q.get("Page", 0)))
    except ValueError:
        raise TwilioFault(20001, 400, "Invalid paging parameters") from None
    filters = {k: q[k] for k in ("Category", "StartDate", "EndDate") if q.get(k)}
    return page_json("usage_records", rows[page * size:(page + 1) * size], path=request.url.path, filters=filters,
                     page=page, page_size=size, total=len(rows))


@router.get(API + "/Accounts/{AccountSid}/Usage/Records.json")
def list_usage(AccountSid: str, request: Request):
    return _usage_page(request, AccountSid, daily=False)


@router.get(API + "/Accounts/{AccountSid}/Usage/Records/Daily.json")
def list_usage_daily(AccountSid: str, request: Request):
    return _usage_page(request, AccountSid, daily=True)
