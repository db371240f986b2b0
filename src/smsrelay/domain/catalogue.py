"""Twilio error codes as data: what each means, who fixes it, whether to retry.

Messages are Twilio's own titles from https://www.twilio.com/docs/api/errors;
meanings follow the runbook table (../shared/runbook/messaging-failures-twilio.md)
where it has the code. Two codes deliberately depart from the runbook, because
we follow Twilio's current behaviour where the runbook is out of date:

* 21408 is listed in the runbook's "retry failed messages" query, but Twilio
  defines it as "Permission to send an SMS has not been enabled for the region
  indicated by the 'To' number": a Geo Permissions setting on the account.
  Retrying cannot succeed until someone changes that setting, so it is not
  retryable.
* 21608 is "Messaging to this country not allowed" in the runbook, but Twilio
  defines it as "The 'To' phone number provided is not yet verified for this
  account" (a trial account, or one without an approved primary compliance
  profile). The fix is on the account, so its cause is "account", not
  "geo_permissions".

``http_status`` is set for errors Twilio returns synchronously from
``messages.create``; ``final_status`` is set for errors that arrive on a status
callback together with the message's final status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

CAUSES = (
    "workers_not_running",
    "account",
    "sender_number",
    "content_filtering",
    "rate_limiting",
    "geo_permissions",
    "channel_rules",
    "destination",
    "provider_outage",
    "pipeline_stalled",
    "none",
)


@dataclass(frozen=True)
class TwilioError:
    code: int
    message: str
    meaning: str
    action: str
    retryable: bool
    max_retries: int
    cause: str
    http_status: int | None
    final_status: str | None

    def __post_init__(self) -> None:
        if self.cause not in CAUSES:
            raise ValueError(f"unknown cause {self.cause!r} for {self.code}")
        if self.retryable != (self.max_retries > 0):
            raise ValueError(f"{self.code}: retryable must match a positive max_retries")
        if self.final_status not in (None, "failed", "undelivered"):
            raise ValueError(f"{self.code}: bad final_status {self.final_status!r}")


def _api(code, message, meaning, action, cause, http_status, max_retries=0):
    return TwilioError(code, message, meaning, action, max_retries > 0, max_retries, cause, http_status, None)


def _delivery(code, message, meaning, action, cause, final_status, max_retries=0):
    return TwilioError(code, message, meaning, action, max_retries > 0, max_retries, cause, None, final_status)


_ENTRIES = (
    # --- account ---------------------------------------------------------------
    # Twilio reports 10001 in its logs and on the message rather than as a
    # documented REST status; a message hit by it ends failed.
    _delivery(10001, "Account is not active", "Account not active",
              "Check the Twilio account balance and suspension notices; top up or contact Twilio Support.",
              "account", "failed"),
    _api(20003, "Permission Denied", "Authentication failed",
         "Verify the Account SID and Auth Token / API key in our settings; check the account is not suspended.",
         "account", 401),
    _api(20403, "403 Forbidden", "Account lacks API access (suspended or closed)",
         "Check the account status in the Twilio Console and contact Twilio Support.",
         "account", 403),
    _api(20404, "The requested resource was not found", "Resource not found",
         "Check the Account SID and the Messaging Service SID / From number configured for the org.",
         "account", 404),
    _delivery(30002, "Account suspended", "Account suspended",
              "Check balance and suspension emails; add funds or contact Twilio Support, then retry held messages.",
              "account", "failed"),
    # Twilio retired MaxPrice on 2024-06-03; seeing 30010 means an old request still sends it.
    _delivery(30010, "Message price exceeds max price", "Price above MaxPrice",
              "Remove the obsolete MaxPrice parameter; check for Unicode characters inflating segments.",
              "account", "failed"),
    _api(21608, "The 'To' phone number provided is not yet verified for this account.",
         "Recipient not verified (trial account)",
         "Verify the recipient in the Twilio Console, or upgrade the account and get a primary compliance profile approved.",
         "account", 400),
    # --- sender number ---------------------------------------------------------
    _api(21606, "The 'From' phone number provided is not a valid message-capable Twilio phone number "
                "for this destination/account",
         "Sender cannot message this destination",
         "Check the From number is owned by this account, SMS-capable, fully ported, and (short codes) in the To country.",
         "sender_number", 400),
    _api(21612, "Message cannot be sent with the current combination of 'To' and/or 'From' parameters",
         "Sender/recipient combination not routable",
         "Check sender-ID rules for the destination country and that both numbers are E.164.",
         "sender_number", 400),
    _delivery(30032, "Toll-Free Number Has Not Been Verified", "Toll-free number not verified",
              "Complete toll-free verification for the sender; traffic stays blocked until it is approved.",
              "sender_number", "failed"),
    _delivery(30034, "US A2P 10DLC - Message from an Unregistered Number", "Unregistered 10DLC number",
              "Register the brand and campaign and attach the number to the campaign before sending.",
              "sender_number", "failed"),
    # --- content filtering -----------------------------------------------------
    _delivery(30004, "Message blocked", "Message blocked",
              "Carrier spam filter: review content, remove URL shorteners, check A2P compliance.",
              "content_filtering", "undelivered"),
    _delivery(30007, "Message filtered", "Carrier violation",
              "Content issue: review the template for spam triggers and A2P compliance.",
              "content_filtering", "undelivered"),
    # --- rate limiting ---------------------------------------------------------
    _api(20429, "Too Many Requests", "API rate limit exceeded",
         "Back off and retry per Retry-After; lower maxMessagesPerMinute if it persists.",
         "rate_limiting", 429, max_retries=5),
    _api(21611, "This 'From' number has exceeded the maximum number of queued messages",
         "Sender queue full (over 10 hours of traffic)",
         "Slow the send rate or add senders; the message can be retried once the queue drains.",
         "rate_limiting", 400, max_retries=3),
    _delivery(30001, "Queue overflow", "Queue overflow",
              "Too many messages too fast for the sender's throughput; slow down and retry.",
              "rate_limiting", "failed", max_retries=3),
    _delivery(30022, "US A2P 10DLC - Rate Limits Exceeded", "Campaign rate limit exceeded",
              "Slow the send rate to the campaign's carrier limit, then retry.",
              "rate_limiting", "undelivered", max_retries=3),
    # Retrying inside the same day only hits the cap again.
    _delivery(30023, "US A2P 10DLC - Daily Message Cap Reached", "Daily carrier cap reached",
              "Wait for the daily cap to reset or raise the brand's trust score / cap.",
              "rate_limiting", "undelivered"),
    # --- geo permissions -------------------------------------------------------
    _api(21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
         "Region not enabled in Geo Permissions",
         "Enable the destination country under Messaging Geo Permissions in the Twilio Console; do not retry before.",
         "geo_permissions", 400),
    # --- destination -----------------------------------------------------------
    _api(21211, "Invalid 'To' Phone Number", "Invalid To number",
         "Phone format issue: fix the number (E.164) at the source.",
         "destination", 400),
    _api(21610, "Attempt to send to unsubscribed recipient", "Recipient opted out (replied STOP)",
         "Do not send; the recipient must text START to opt back in.",
         "destination", 400),
    _api(21614, "'To' number is not a valid mobile number", "Not a mobile number",
         "The number cannot receive SMS (landline or invalid); use another contact method.",
         "destination", 400),
    _delivery(30003, "Unreachable destination handset", "Unreachable destination",
              "Normal, user phone issue (off, no signal, roaming); no action unless widespread.",
              "destination", "undelivered"),
    _delivery(30005, "Unknown destination handset", "Unknown destination",
              "Invalid phone number: the number does not exist or is no longer in service.",
              "destination", "undelivered"),
    _delivery(30006, "Landline or unreachable carrier", "Landline destination",
              "Can't SMS to landline; mark the number and use another channel.",
              "destination", "undelivered"),
    # --- provider outage -------------------------------------------------------
    _delivery(30008, "Unknown error", "Unknown error",
              "Retry needed: retried automatically a bounded number of times; escalate if it persists.",
              "provider_outage", "undelivered", max_retries=3),
    _delivery(30500, "Twilio Internal Error", "Twilio internal error",
              "Check status.twilio.com; retry; contact Twilio Support with Message SIDs if it repeats.",
              "provider_outage", "failed", max_retries=3),
    # --- channel rules (MMS media, WhatsApp; issue 18) -------------------------
    # What the org sent breaks a rule of its channel: the media Twilio fetched, or WhatsApp's
    # window and templates. Never retried as is: the message must change.
    _delivery(12300, "Invalid Content-Type", "Media served with a type Twilio does not accept",
              "Serve the media with its real Content-Type (JPEG, PNG or GIF for MMS); fix the URL and send again.",
              "channel_rules", "failed"),
    _delivery(11200, "HTTP retrieval failure", "Twilio could not fetch the media URL",
              "Make the media URL public over https (no auth, no redirect to a login) and send again.",
              "channel_rules", "failed"),
    _delivery(30019, "Content size exceeds carrier limit", "Media too large for the carrier",
              "Send smaller media (under 600 KB for non-image files; 5 MB in all on MMS).",
              "channel_rules", "undelivered"),
    _delivery(63034, "Media exceeds size limit", "Media over Twilio's limit",
              "Keep the message and its media under 5 MB (MMS) or 16 MB (WhatsApp).",
              "channel_rules", "failed"),
    _delivery(63016, "Failed to send freeform message because you are outside the allowed window",
              "WhatsApp free text outside the 24-hour window",
              "Send an approved template (contentSid with contentVariables); free text goes only within 24 h "
              "of the person's last message.", "channel_rules", "failed"),
    _delivery(63049, "Meta chose not to deliver this WhatsApp marketing message", "WhatsApp marketing declined",
              "Meta limits marketing templates per person; send less marketing or use a utility template.",
              "channel_rules", "undelivered"),
    _delivery(63018, "Rate limit exceeded for Channel", "WhatsApp sender over its rate",
              "Throttle the org's WhatsApp sends (smsrelay org throttle) and send the failed ones again later.",
              "rate_limiting", "failed"),
    _delivery(63003, "Channel could not find To address", "Recipient not on WhatsApp",
              "The person has no WhatsApp account on that number: reach them by SMS.", "destination", "failed"),
    _delivery(63024, "Invalid message recipient", "Recipient cannot get this WhatsApp message",
              "The number is not eligible (not on WhatsApp or blocked the business): use SMS.",
              "destination", "failed"),
    _api(21910, "Invalid From and To pair. From and To should be of the same channel", "Channels mixed",
         "Send WhatsApp from a whatsapp: sender to a whatsapp: address, SMS and MMS between phone numbers.",
         "channel_rules", 400),
    _api(21623, "Number of media files exceeds allowed limit", "Too many media",
         "At most 10 media URLs per MMS, 1 per WhatsApp message.", "channel_rules", 400),
)

CATALOGUE: Mapping[int, TwilioError] = MappingProxyType({e.code: e for e in _ENTRIES})

if len(CATALOGUE) != len(_ENTRIES):  # pragma: no cover - guards against copy-paste
    raise RuntimeError("duplicate code in the Twilio error catalogue")


def _as_code(code: int | str | None) -> int | None:
    if code is None or isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    text = str(code).strip()
    # Twilio sends ErrorCode as a form string; our metadata stores it as text.
    return int(text) if text.isdigit() else None


def lookup(code: int | str | None) -> TwilioError | None:
    parsed = _as_code(code)
    return None if parsed is None else CATALOGUE.get(parsed)


def is_retryable(code: int | str | None) -> bool:
    entry = lookup(code)
    return entry is not None and entry.retryable


def retry_budget(code: int | str | None) -> int:
    entry = lookup(code)
    return 0 if entry is None else entry.max_retries


def describe_unknown(code: int | str | None) -> TwilioError:
    """The catalogue entry if there is one, else a generic never-retry entry.

    Unknown codes are not retried: a blind retry of a permanent failure costs
    money and can look like spam to carriers.
    """
    entry = lookup(code)
    if entry is not None:
        return entry
    parsed = _as_code(code)
    shown = code if parsed is None else parsed
    return TwilioError(
        code=parsed if parsed is not None else 0,
        message=f"Unrecognised Twilio error code {shown!r}" if parsed is None else f"Twilio error {parsed}",
        meaning="Unrecognised error code",
        action="Look the code up at https://www.twilio.com/docs/api/errors and add it to the catalogue.",
        retryable=False,
        max_retries=0,
        cause="none",
        http_status=None,
        final_status=None,
    )
