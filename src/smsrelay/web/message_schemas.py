"""The message resource as the OpenAPI document types it (service/outbound/messages.present
builds it; domain/message_view.py words error, waiting and lineage). Declared for the document
and for schemathesis' response checks, not used to filter responses: a field another change
adds to the resource reaches clients before it reaches this schema, never the reverse."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from smsrelay.domain.status import ALL_STATUSES

Status = Literal[tuple(sorted(ALL_STATUSES))]  # type: ignore[valid-type]


class MessageError(BaseModel):
    code: str = Field(description="Twilio's error code (or ours, e.g. 21610 for an opt-out found at dispatch)")
    message: str = Field(description="Twilio's text for it")
    meaning: str = Field(description="What it means, from our catalogue of Twilio errors")
    action: str = Field(description="What fixes it")
    retryable: bool = Field(description="Whether sending the same message again can succeed")


class Waiting(BaseModel):
    reason: Literal["held", "throttled", "twilio_retry"] = Field(
        description="held: a guard holds it (detail: kill_switch, paused, org_disabled, rate_zero, "
                    "unknown_outcome, spend_cap, price_ceiling, …); throttled: over the org's rate (until: its slot); twilio_retry: Twilio "
                    "failed or was unreachable and the send is retried at `until`")
    detail: str | None = None
    since: str | None = None
    until: str | None = None


class HistoryItem(BaseModel):
    status: str
    errorCode: str | None = None
    at: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(examples=["msg_01JDX5Q4B3M7R2"])
    direction: Literal["outbound", "inbound"]
    status: Status  # type: ignore[valid-type]
    from_: str | None = Field(alias="from")
    to: str
    body: str
    segments: int
    encoding: str
    twilioSid: str | None
    errorCode: str | None = Field(description="Same as error.code (kept for existing clients)")
    errorMessage: str | None = Field(description="Same as error.message")
    error: MessageError | None = Field(description="Why it failed or is being retried; null without an error")
    held: dict | None = Field(description="The guard's hold as recorded ({reason, since}); see `waiting`")
    throttled: dict | None = Field(description="The rate limit's deferral as recorded ({until, perMinute})")
    waiting: Waiting | None = Field(description="Why a queued message has not been sent yet; null when it is "
                                                "not waiting on anything but a worker")
    attempts: int = Field(description="Requests made to Twilio to create it")
    retryOf: str | None = Field(description="The message an operator's retry re-sent as this one")
    retriedAs: str | None = Field(description="The message an operator's retry re-sent this one as")
    price: str | None = Field(default=None, description="What Twilio charged, as Twilio writes it (a negative "
                              "decimal string, e.g. \"-0.00790\"), once the message is final; before that "
                              "(GET by id) an estimate: segments × the destination's Pricing API price")
    priceUnit: str | None = Field(default=None, description="ISO 4217 currency of `price`, e.g. USD")
    priceEstimated: bool = Field(default=False, description="true while `price` is our estimate, not Twilio's")
    createdAt: str
    updatedAt: str
    history: list[HistoryItem] | None = Field(default=None, description="Every distinct status Twilio reported, "
                                                                        "in arrival order (GET by id only)")


class MessagePage(BaseModel):
    messages: list[Message] = Field(description="Newest first")
    nextCursor: str | None = Field(description="Pass as `after` for the next page; null on the last page")


class Held(BaseModel):
    reason: Literal["kill_switch", "paused", "org_disabled", "rate_zero"]
    message: str
