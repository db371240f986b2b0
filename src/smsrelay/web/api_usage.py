"""An org's usage (service/spend/usage.py): messages, segments and cost by day, destination
country and channel, Twilio's price where known and our estimate otherwise."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from smsrelay.service.spend import usage as spend_usage
from smsrelay.web.deps import Conn, OrgId
from smsrelay.web.problem_docs import errors_for

router = APIRouter(prefix="/v1", tags=["usage"])

Day = Annotated[str | None, Query(description="A UTC day, YYYY-MM-DD (inclusive)", max_length=10,
                                  examples=["2026-12-01"])]


class Part(BaseModel):
    model_config = ConfigDict(extra="allow")
    messages: int
    segments: int
    cost: str = Field(description="USD, five decimals")


class Usage(BaseModel):
    orgId: str
    from_: str = Field(alias="from")
    to: str
    messages: int = Field(description="Outbound messages that reached Twilio (not those it failed before a carrier)")
    segments: int
    cost: str = Field(description="billed + estimated, USD")
    billed: str = Field(description="The sum of Twilio's prices of the messages it has priced")
    estimated: str = Field(description="The not-yet-priced at segments × the destination's Pricing API price")
    unpricedMessages: int
    priceUnit: str
    byDay: list[Part]
    byCountry: list[Part]
    byChannel: list[Part]


@router.get("/usage", response_model=Usage, response_model_by_alias=True,
            responses=errors_for("invalid_usage_range", "invalid_request"))
async def get_usage(org_id: OrgId, conn: Conn, from_: Annotated[str | None, Query(alias="from", max_length=10,
                                                                                 description="A UTC day, YYYY-MM-DD; default 29 days before `to`")] = None,
                    to: Day = None) -> dict:
    """What this org's messages cost, by day (of sending, UTC), destination country and channel:
    at most 366 days, `to` defaulting to today. 400 invalid_usage_range for a bad or inverted range."""
    start, end = spend_usage.checked_range(from_, to)
    return await spend_usage.usage(conn, org_id, start, end)
