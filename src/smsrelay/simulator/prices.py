"""The simulated account's price list: what a message to a country costs (USD per segment, the
same for every carrier of a country), as the Pricing API and every message resource say."""

from __future__ import annotations

from decimal import Decimal

# Outbound SMS, USD per segment. Real prices vary by carrier; one per country is enough here.
# The last ones are the destinations SMS pumping favours (premium-rate, expensive to reach).
COUNTRY_PRICES = {
    "US": ("United States", "0.00790"), "CA": ("Canada", "0.00790"), "GB": ("United Kingdom", "0.04000"),
    "DE": ("Germany", "0.07900"), "FR": ("France", "0.07000"), "IN": ("India", "0.00830"),
    "AU": ("Australia", "0.05150"), "MX": ("Mexico", "0.04200"), "BR": ("Brazil", "0.03500"),
    "UZ": ("Uzbekistan", "0.26000"), "KG": ("Kyrgyzstan", "0.23000"), "TJ": ("Tajikistan", "0.21000"),
    "AZ": ("Azerbaijan", "0.25000"),
}
DEFAULT_PRICE = "0.05000"
CHANNEL_PRICES = {"mms": "0.02000", "whatsapp": "0.00500"}
CATEGORIES = {"sms-outbound": "sms", "mms-outbound": "mms", "sms": "sms", "mms": "mms"}
DESCRIPTIONS = {"sms-outbound": "Outbound SMS", "mms-outbound": "Outbound MMS", "sms": "SMS", "mms": "MMS"}


def segment_price(country: str | None, channel: str = "sms") -> Decimal:
    if channel in CHANNEL_PRICES:
        return Decimal(CHANNEL_PRICES[channel])
    return Decimal(COUNTRY_PRICES.get(country or "", ("", DEFAULT_PRICE))[1])


def country_json(iso: str) -> dict:
    name, price = COUNTRY_PRICES.get(iso, (iso, DEFAULT_PRICE))
    prices = [{"number_type": t, "base_price": price, "current_price": price} for t in ("local", "mobile", "toll free")]
    return {
        "country": name, "iso_country": iso,
        "outbound_sms_prices": [{"carrier": "Simulated Carrier", "mcc": "000", "mnc": "00", "prices": prices}],
        "inbound_sms_prices": [{"number_type": "local", "base_price": "0.00790", "current_price": "0.00790"}],
        "price_unit": "USD", "url": f"https://pricing.twilio.com/v1/Messaging/Countries/{iso}",
    }
