"""Errors a use case reports to its caller, declared once as data (as nyaruka/courier declares its
send errors): each named error has its machine-readable code, HTTP status, message template,
the detail fields it carries in the body, and whether the same request may succeed later.

A call site names the error and gives the facts, e.g. `raise ORG_NOT_FOUND(org_id=org_id)`; the
code, status and wording live only here, so the same failure reads the same from every route and
command. A code with two wordings (a missing key and an unknown key are both "unauthorized")
declares the second as a variant: `UNAUTHORIZED("unknown_key")`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping


class Problem(Exception):
    retryable = False

    def __init__(self, status: int, code: str, message: str, **details: Any):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        body.update(self.details)
        return {"error": body}


@dataclass(frozen=True)
class ErrorKind:
    code: str
    status: int
    message: str
    details: tuple[str, ...] = ()
    retryable: bool = False
    variants: Mapping[str, str] = field(default_factory=dict)
    # Facts every occurrence carries (e.g. the Twilio code the same mistake would get there).
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, _variant: str | None = None, /, **facts: Any) -> Problem:
        """The Problem for these facts: they fill the template, and those named in `details` also
        go into the error body (in the order given)."""
        facts = {**self.fixed, **facts}
        template = self.variants[_variant] if _variant is not None else self.message
        problem = Problem(self.status, self.code, template.format(**facts),
                          **{k: v for k, v in facts.items() if k in self.details})
        problem.retryable = self.retryable
        return problem


_DECLARED: dict[str, ErrorKind] = {}
DECLARED: Mapping[str, ErrorKind] = MappingProxyType(_DECLARED)


def _declare(code: str, status: int, message: str, **options: Any) -> ErrorKind:
    if code in _DECLARED:
        raise ValueError(f"error code {code!r} is declared twice")
    kind = ErrorKind(code, status, message, **options)
    _DECLARED[code] = kind
    return kind


def by_code(code: str) -> ErrorKind:
    return _DECLARED[code]


def refused(refusal: Any) -> Problem:
    """The Problem for a domain/admission.py Refusal, which words itself and names its code."""
    return by_code(refusal.code)(message=refusal.message, **refusal.details)


# --- the caller: authentication and request shape ---------------------------------------------

UNAUTHORIZED = _declare("unauthorized", 401, "Send your API key as 'Authorization: Bearer <key>'.",
                        variants={"unknown_key": "Unknown or revoked API key.",
                                  "metrics": "Send the metrics token as 'Authorization: Bearer <METRICS_TOKEN>'."})
ADMIN_DISABLED = _declare("admin_disabled", 403, "Admin API is disabled: set ADMIN_API_TOKEN to enable it.")
FORBIDDEN = _declare("forbidden", 403, "A valid admin token is required.")
INVALID_SIGNATURE = _declare("invalid_signature", 403, "Missing or invalid X-Twilio-Signature.")
INVALID_FORM = _declare("invalid_form", 400, "A webhook carries at most {max_fields} form fields.")
MISSING_MESSAGE_SID = _declare("missing_message_sid", 400, "An inbound SMS webhook must carry its MessageSid.")
INVALID_MESSAGE_SID = _declare("invalid_message_sid", 400,
                               "MessageSid must be SM or MM and 32 hex digits, equal to SmsMessageSid and SmsSid.")
# NUL or a lone surrogate: no SMS or record can hold it (also answered by web/url_text.py for URLs).
INVALID_CHARACTERS = _declare("invalid_characters", 422, "{message}", details=("field",))
INVALID_REQUEST = _declare("invalid_request", 422, "{message}", details=("field", "fields"))
RATE_LIMITED = _declare("rate_limited", 429, "This API key is limited to {per_minute} requests a minute.",
                        details=("retryAfter",), retryable=True)
DATABASE_UNAVAILABLE = _declare("database_unavailable", 503, "The database is unavailable; retry shortly.",
                                retryable=True)
INTERNAL_ERROR = _declare("internal_error", 500, "Something went wrong on our side.")

# --- lookups ------------------------------------------------------------------------------------

# Another org's resource answers exactly like a missing one: its existence is not ours to reveal.
NOT_FOUND = _declare("not_found", 404, "No such {what}.")
ORG_NOT_FOUND = _declare("org_not_found", 404, "No org {org_id}.",
                         variants={"id_or_name": "No org has the id or the name {org_id!r}; `smsrelay org list` "
                                                 "lists them."})
ORG_NAME_AMBIGUOUS = _declare("org_name_ambiguous", 409, "{count} orgs are named {name!r}: {candidates}; give the id.")
KEY_NOT_FOUND = _declare("key_not_found", 404, "No active key {key_id} for org {org_id}.")
MESSAGE_NOT_FOUND = _declare("message_not_found", 404, "No message {message_id}.")
NUMBER_NOT_FOUND = _declare("number_not_found", 404, "{number} is not a number on this Twilio account.")

# --- a message and its acceptance -------------------------------------------------------------

EMPTY_BODY = _declare("empty_body", 422, "The message body is empty.", details=("field",), fixed={"field": "body"})
BODY_TOO_LONG = _declare("body_too_long", 422,
                         "The body has {length} characters; Twilio accepts at most {max_length}.",
                         details=("field",), fixed={"field": "body"})
INVALID_FROM_NUMBER = _declare("invalid_from_number", 422, "{number} is not one of this org's sender numbers.",
                               details=("field",), fixed={"field": "from"})
NO_SENDER = _declare("no_sender", 422, "This org has no sender number or Messaging Service configured.")
INVALID_TO_NUMBER = _declare("invalid_to_number", 422, "{to!r} is not a valid phone number ({reason}).",
                             details=("field", "twilioEquivalent"), fixed={"field": "to", "twilioEquivalent": 21211})
RECIPIENT_OPTED_OUT = _declare("recipient_opted_out", 422,
                               "{masked} replied STOP to this org; Twilio would refuse with {twilioEquivalent}.",
                               details=("field", "twilioEquivalent"), fixed={"field": "to", "twilioEquivalent": 21610})
IDEMPOTENCY_KEY_REUSED = _declare("idempotency_key_reused", 422,
                                  "This Idempotency-Key was used with a different request body.")
BATCH_EMPTY = _declare("batch_empty", 422, "The batch has no messages; send 1 to 1000.")
BATCH_TOO_LARGE = _declare("batch_too_large", 413,
                           "The batch has {count} messages; at most {maxMessages} go in one request. Split it.",
                           details=("maxMessages",))
DAILY_CAP_REACHED = _declare("daily_cap_reached", 429,
                             "This org's daily cap of {cap} segments is reached; it resets at 00:00 UTC.",
                             details=("retryAfter", "segments", "remainingSegments"), retryable=True,
                             variants={"partial": "This message is {segments} segments and only {remainingSegments} "
                                                  "of this org's daily cap of {cap} segments are left today; it resets "
                                                  "at 00:00 UTC."})
# The org's policies refuse it (domain/admission.py words the refusal, since it knows the facts).
COUNTRY_NOT_ALLOWED = _declare("country_not_allowed", 422, "{message}",
                               details=("country", "allowedCountries", "twilioEquivalent"))
LANDLINE_DESTINATION = _declare("landline_destination", 422, "{message}", details=("twilioEquivalent",))
CONTENT_BLOCKED = _declare("content_blocked", 422, "{message}", details=("findings", "policy"))
# Channels and scheduled sends (domain/channels.py and service/outbound/channels.py word them).
INVALID_CHANNEL = _declare("invalid_channel", 422, "{message}", details=("field",))
INVALID_MEDIA = _declare("invalid_media", 422, "{message}", details=("field",))
TOO_MANY_MEDIA = _declare("too_many_media", 422, "{message}", details=("field", "twilioEquivalent"),
                          fixed={"twilioEquivalent": 21623})
UNSUPPORTED_MEDIA_FILE = _declare("unsupported_media_file", 422, "{message}", details=("field",))
INVALID_CONTENT = _declare("invalid_content", 422, "{message}", details=("field",))
NO_CHANNEL_SENDER = _declare("no_channel_sender", 422,
                             "This org has no {channel} sender; add one with: smsrelay org number add ORG {example}",
                             details=("channel",))
WHATSAPP_WINDOW_CLOSED = _declare(
    "whatsapp_window_closed", 422,
    "{masked} has not written to this WhatsApp sender in the last 24 hours: outside WhatsApp's customer-service "
    "window only an approved template goes (send contentSid and contentVariables); Twilio would fail it with "
    "{twilioEquivalent}.", details=("lastInboundAt", "twilioEquivalent"), fixed={"twilioEquivalent": 63016})
INVALID_SEND_AT = _declare("invalid_send_at", 422, "{message}", details=("field", "earliest", "latest"))
MESSAGE_NOT_CANCELABLE = _declare("message_not_cancelable", 409,
                                  "Message {message_id} is {messageStatus}: only a message not yet handed to Twilio "
                                  "(scheduled, or queued and not in flight) can be canceled.", details=("messageStatus",))

# --- orgs, policies and mitigations -----------------------------------------------------------

INVALID_NAME = _declare("invalid_name", 422, "The org needs a non-empty name.")
INVALID_NUMBER = _declare("invalid_number", 422, "{raw!r} is not a valid phone number: {reason}.",
                          variants={"e164": "{raw!r} is not a valid E.164 phone number."})
NUMBER_TAKEN = _declare("number_taken", 409, "{number} already belongs to an org.")
INVALID_POLICY = _declare("invalid_policy", 422, "{message}")
INVALID_REASON = _declare("invalid_reason", 422, "The reason must be at most {max_length} characters.")
INVALID_RATE = _declare("invalid_rate", 422, "--per-minute must be between 1 and {max_per_minute}.")

# --- the incident toolkit ---------------------------------------------------------------------

INVALID_SINCE = _declare("invalid_since", 422, "--since {text!r} is not a duration like 30m, 1h or 2d.",
                         variants={"out_of_range": "--since {text!r} must be between 1 second and 31 days."})
INVALID_LIMIT = _declare("invalid_limit", 422, "--limit must be between 1 and 1000.")
INVALID_CODES = _declare("invalid_codes", 422, "--codes takes numeric Twilio error codes, not {codes}.")
NOT_RETRYABLE = _declare("not_retryable", 422,
                         "Twilio says {codes} will not succeed on a retry; pass --yes to retry anyway.")
RETRY_STILL_FAILING = _declare("retry_still_failing", 409, "Not re-sent: {reason}.")
INVALID_WINDOW = _declare("invalid_window", 422, "The window must be one of {windows}.")
INVALID_DIRECTION = _declare("invalid_direction", 422, "Direction is outbound or inbound.")
TWILIO_TIMEOUT = _declare("twilio_timeout", 504, "Twilio did not answer within {seconds:.0f} s.", retryable=True,
                          variants={"late": "Twilio did not answer in time: {msg}"})
TWILIO_ERROR = _declare("twilio_error", 502, "Twilio answered {status}: {msg} (code {code})")
TWILIO_UNREACHABLE = _declare("twilio_unreachable", 502, "Cannot reach Twilio: {kind}: {error}", retryable=True,
                              variants={"plain": "Cannot reach Twilio: {msg}"})

# --- message templates (service/templates) ------------------------------------------------------

TEMPLATE_NOT_FOUND = _declare("template_not_found", 404, "No template {name}.", details=("name",))
TEMPLATE_EXISTS = _declare("template_exists", 409,
                           "A template named {name} already exists; PATCH it to save a new version.", details=("name",))
INVALID_TEMPLATE = _declare("invalid_template", 422, "{message}")
TEMPLATE_CONTENT_BLOCKED = _declare("template_content_blocked", 422, "{message}",
                                    details=("findings", "segments", "policy"))
TEMPLATE_ARCHIVED = _declare("template_archived", 422, "Template {name} is archived; it sends nothing until restored.",
                             details=("name",))
TEMPLATE_VARIABLE_MISSING = _declare("template_variable_missing", 422, "{message}", details=("variable",))
TEMPLATE_VARIABLE_UNEXPECTED = _declare("template_variable_unexpected", 422, "{message}", details=("variable",))
TEMPLATE_VARIABLE_INVALID = _declare("template_variable_invalid", 422, "{message}", details=("variable",))
TEMPLATE_WITH_BODY = _declare("template_with_body", 422,
                              "Send either 'body' or 'template' (with its 'variables'), not both.")
VARIABLES_WITHOUT_TEMPLATE = _declare("variables_without_template", 422, "'variables' go with a 'template'.")

# --- the public API's contract (docs/api.md) -------------------------------------------------

INVALID_JSON = _declare("invalid_json", 400, "The request body is not valid JSON ({reason}).")
UNSUPPORTED_MEDIA_TYPE = _declare("unsupported_media_type", 415,
                                  "Send the request body as JSON with 'Content-Type: application/json'.")
METHOD_NOT_ALLOWED = _declare("method_not_allowed", 405, "{method} is not allowed on {path}.")
BAD_REQUEST = _declare("bad_request", 400, "{message}")
INVALID_CURSOR = _declare("invalid_cursor", 422,
                          "'{field}' is not a cursor this listing gave out; pass a page's nextCursor unchanged.",
                          details=("field",))
TO_IS_SENDER = _declare("to_is_sender", 422,
                        "{to} is one of this org's own sender numbers; Twilio refuses 'To' equal to 'From' "
                        "with {twilioEquivalent}.", details=("field", "twilioEquivalent"),
                        fixed={"field": "to", "twilioEquivalent": 21266})
LAST_API_KEY = _declare("last_api_key", 409,
                        "{key_id} is this org's last active API key: create another before revoking it.")
BODY_TOO_LARGE = _declare("body_too_large", 413, "Request bodies are limited to {max_bytes} bytes.")

# --- the incident autopilot ---
UNKNOWN_AUTOPILOT_CAUSE = _declare("unknown_autopilot_cause", 422,
                                   "{cause!r} is not a cause the autopilot handles; it handles {causes}.",
                                   details=("cause",))
AUTOPILOT_ACTION_NOT_FOUND = _declare("autopilot_action_not_found", 404, "No autopilot action {action_id}.")
AUTOPILOT_ACTION_ENDED = _declare("autopilot_action_ended", 409,
                                  "Autopilot action {action_id} already ended ({state}); nothing to undo.")

# --- events and the org's webhooks (issue 16, service/events) ----------------------------------

EVENT_NOT_FOUND = _declare("event_not_found", 404, "No event {event_id}.")
INVALID_WEBHOOK_URL = _declare("invalid_webhook_url", 422, "{field} must be an http or https URL with a host, "
                               "at most 2000 characters.", details=("field",))
NO_WEBHOOK_URL = _declare("no_webhook_url", 409, "This org has no {which} webhook URL to deliver to; set one first.")

# --- spend (issue 21, service/spend) -------------------------------------------------------------
INVALID_USAGE_RANGE = _declare("invalid_usage_range", 400, "{message}", details=("reason",))
INVALID_SPEND_POLICY = _declare("invalid_spend_policy", 422, "{field} {reason}.", details=("field",))
