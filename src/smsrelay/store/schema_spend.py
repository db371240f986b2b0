"""What messages cost (migration 0030): Twilio's price per destination, each org's spend caps
and the per-day ledger the caps are counted on. "MessageLog"."price"/"priceUnit" (schema.py)
hold Twilio's own price of a message once it is final, as Twilio signs it (negative)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, ForeignKey, Index, Integer, MetaData, Numeric, Table, Text, text

from smsrelay.store.schema import TS, now

MONEY = Numeric(14, 5)


def define(metadata: MetaData) -> tuple[Table, Table, Table]:
    # The Pricing API's outbound price per segment (the dearest carrier's), cached per country.
    destination_price = Table(
        "DestinationPrice", metadata,
        Column("isoCountry", Text, primary_key=True),
        Column("price", MONEY, nullable=False), Column("priceUnit", Text, nullable=False),
        Column("fetchedAt", TS, nullable=False, server_default=now),
    )
    # NULL = no cap. Money caps in the destination prices' unit (USD); "priceCeiling" per segment.
    policy = Table(
        "OrgSpendPolicy", metadata,
        Column("orgId", Text, ForeignKey("Org.id", ondelete="CASCADE"), primary_key=True),
        Column("dailySpendCap", MONEY), Column("monthlySpendCap", MONEY),
        Column("dailySegmentCap", Integer), Column("monthlySegmentCap", Integer),
        Column("priceCeiling", MONEY),
        Column("updatedAt", TS, nullable=False, server_default=now),
    )
    # What an org with a policy committed to sending, per UTC day, written by the send's guard.
    spend_day = Table(
        "OrgSpendDay", metadata,
        Column("orgId", Text, ForeignKey("Org.id", ondelete="CASCADE"), primary_key=True),
        Column("day", Date, primary_key=True),
        Column("segments", BigInteger, nullable=False, server_default=text("0")),
        Column("cost", MONEY, nullable=False, server_default=text("0")),
    )
    return destination_price, policy, spend_day


def unpriced_index(message_log: Table) -> Index:
    return Index("MessageLog_unpriced_idx", message_log.c.finalAt,
                 postgresql_where=text("\"direction\" = 'outbound' AND \"price\" IS NULL "
                                       "AND \"twilioSid\" IS NOT NULL AND \"finalAt\" IS NOT NULL"))
