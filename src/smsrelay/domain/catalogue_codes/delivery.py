"""Delivery errors (30xxx): Twilio accepted the message and a status callback reports it failed
or undelivered. A callback is final: nothing re-sends it on its own. `retries` > 0 is how many
times `smsrelay retry` may re-send one message's lineage, once the cause has cleared."""

from smsrelay.domain.catalogue_codes import TITLE_ONLY, not_found, page

ROWS = (
    # --- account ---------------------------------------------------------------------------------
    (30002, "failed", "account", 0, "Account suspended", "Account suspended after the message was queued",
     "Check balance and suspension emails; add funds or contact Twilio Support, then `smsrelay retry --codes 30002 --yes` once the account is active."),
    # Twilio retired MaxPrice on 2024-06-03; seeing 30010 means an old request still sends it.
    (30010, "failed", "account", 0, "Message price exceeds max price", "Price above MaxPrice (obsolete)",
     "Remove the obsolete MaxPrice parameter; check for Unicode characters inflating segments."),
    (30037, "failed", "account", 0, "Outbound Messaging Disabled", "Outbound messaging disabled on the account",
     "Contact Twilio Support: the account's outbound messaging was turned off."),
    # --- sender number ---------------------------------------------------------------------------
    (30024, "undelivered", "sender_number", 0, "Numeric Sender ID Not Provisioned on Carrier",
     "Sender not provisioned on the destination carrier",
     "Finish the sender's registration (10DLC campaign, toll-free verification, short code provisioning) before sending."),
    (30032, "failed", "sender_number", 0, "Toll-Free Number Has Not Been Verified", "Toll-free number not verified",
     "Complete toll-free verification for the sender; traffic stays blocked until it is approved."),
    (30033, "failed", "sender_number", 0, "US A2P 10DLC - Campaign Suspended", "10DLC campaign suspended",
     "Resolve the campaign's suspension with Twilio; messages from its numbers are blocked until then."),
    (30034, "failed", "sender_number", 0, "US A2P 10DLC - Message from an Unregistered Number", "Unregistered 10DLC number",
     "Register the brand and campaign and attach the number to the campaign before sending."),
    (30035, "failed", "sender_number", 0, "US A2P 10DLC - Messaging Service Number Pool Size Limit Reached",
     "Too many numbers in the campaign's Messaging Service", "Remove numbers from the Messaging Service or split the campaign."),
    (30018, "undelivered", "sender_number", 0, "Destination carrier requires sender ID pre-registration",
     "Sender ID not registered for the destination", "Register the sender ID for the destination country."),
    (30042, "failed", "sender_number", 0, "The Sender ID is blocked as generic or it contains special characters",
     "Sender ID blocked (generic, special characters or fraud)",
     "Use a sender ID that follows the destination's SMS guidelines."),
    # --- content filtering -----------------------------------------------------------------------
    # The runbook's action calls 30004 a carrier spam filter; Twilio's page puts a blocked destination
    # first (blocklist, an earlier STOP, India's DND registry), so the action follows Twilio.
    (30004, "undelivered", "content_filtering", 0, "Message blocked", "Message blocked",
     "Check whether the recipient opted out (they must text START) or is on a block or DND list; if many recipients "
     "fail, review content and A2P compliance for carrier filtering."),
    # "Carrier violation" is the runbook's meaning (and Twilio's former title); the action follows the
    # staging copy of Twilio's page, which has Twilio's own filter block it too.
    (30007, "undelivered", "content_filtering", 0, "Message filtered", "Carrier violation",
     "Filtered by Twilio or the carrier: review the template for spam, phishing, Messaging/Acceptable Use Policy "
     "issues and A2P compliance; if compliant, send Twilio Support 3+ Message SIDs."),
    (30038, "failed", "content_filtering", 0, "OTP Message Body Filtered", "Inbound one-time passcode filtered",
     "Twilio does not deliver OTP messages to its numbers; nothing to retry."),
    (30110, "failed", "content_filtering", 0, "Domain is blocked", "A link in the message is on a blocked domain",
     "Replace the URL with one on another domain, or ask Twilio Support to review the domain."),
    # --- rate limiting ---------------------------------------------------------------------------
    (30001, "failed", "rate_limiting", 3, "Queue overflow", "Queued longer than its sender's throughput allows",
     "Too many messages too fast for the sender's throughput (queued up to 10 hours); slow down or add senders, "
     "then `smsrelay retry` (up to 3 times)."),
    (30017, "undelivered", "rate_limiting", 3, "Carrier network congestion", "Carrier MMS congestion",
     "Spread MMS sends over time; `smsrelay retry` may re-send up to 3 times once it eases."),
    (30022, "undelivered", "rate_limiting", 3, "US A2P 10DLC - Rate Limits Exceeded", "Campaign rate limit exceeded",
     "Slow the send rate to the campaign's carrier limit (or fewer messages to one number), then "
     "`smsrelay retry` (up to 3 times)."),
    # Retrying inside the same day only hits the cap again.
    (30023, "undelivered", "rate_limiting", 0, "US A2P 10DLC - Daily Message Cap Reached", "Daily carrier cap reached",
     "Wait for the daily cap to reset or raise the brand's trust score / cap."),
    (30027, "undelivered", "rate_limiting", 0, "US A2P 10DLC - T-Mobile Daily Message Limit Reached",
     "T-Mobile daily cap reached", "Wait for the daily cap to reset or raise the brand's trust score."),
    (30036, "failed", "rate_limiting", 1, "Validity Period Expired", "Expired in Twilio's queue",
     "Pace sends closer to the sender's throughput or lengthen the validity period; `smsrelay retry` may re-send once."),
    # --- geo / fraud guard -----------------------------------------------------------------------
    # Twilio's block is temporary (15-30 minutes, repeated while suspicious traffic continues):
    # nothing re-sends it; an operator re-sends once the traffic is known to be genuine.
    (30450, "failed", "geo_permissions", 0, "Message delivery blocked - SMS Pumping Protection",
     "Destination temporarily blocked by SMS Pumping Protection",
     "Check the traffic to that destination is genuine (OTP to unusual places?); the block lifts after 15-30 minutes. "
     "Put known numbers on the Global Safe List; then `smsrelay retry --codes 30450 --yes`."),
    # --- destination -----------------------------------------------------------------------------
    # Twilio's page suggests one test re-send for a one-off downstream failure; the runbook calls it
    # a normal handset issue, so nothing re-sends it unless an operator asks.
    (30003, "undelivered", "destination", 0, "Unreachable destination handset", "Unreachable destination",
     "Handset off, out of coverage, roaming or unable to take SMS; no action unless widespread. Twilio suggests "
     "one test re-send: `smsrelay retry --codes 30003 --yes`."),
    (30005, "undelivered", "destination", 0, "Unknown destination handset", "Unknown destination",
     "Invalid phone number: the number does not exist or is no longer in service."),
    (30006, "undelivered", "destination", 0, "Landline or unreachable carrier", "Landline destination",
     "Can't SMS to a landline (check with Lookup) or, from a short code, the carrier; do not re-send the SMS."),
    (30009, "undelivered", "destination", 0, "Missing inbound segment",
     "A segment of a multi-part inbound message never reached Twilio",
     "Inbound only: ask the sender to resend from better coverage; contact Twilio Support with Message SIDs if frequent."),
    (30011, "undelivered", "media", 0, "MMS not supported by the receiving phone number in this region",
     "MMS not supported (or not enabled) on the destination handset", "Send the text without media."),
    (30019, "undelivered", "media", 0, "Content size exceeds carrier limit", "Content larger than the carrier takes",
     "Keep the media and the text (UCS-2 counts more) under the destination carrier's limits."),
    (30012, "failed", "request", 0, "TTL is too small", "ValidityPeriod below the minimum",
     "Send a larger ValidityPeriod (seconds), or none."),
    (30015, "failed", "channel", 0, "Non-supported channel type is used", "To or From has an unknown channel prefix",
     "Fix the To/From channel prefix (whatsapp:, messenger:, rcs:)."),
    (30016, "failed", "channel", 0, "'To' and 'From' channel types are incompatible",
     "To and From belong to different channels", "Send from a sender of the recipient's channel."),
    # --- provider outage -------------------------------------------------------------------------
    # A 30008 comes on a status callback: nothing retries it automatically; `smsrelay retry`
    # re-sends it, at most 3 times per message lineage.
    (30008, "undelivered", "provider_outage", 3, "Unknown error", "Unknown error",
     "Not retried automatically (a callback is final): re-send with `smsrelay retry` (at most 3 times); escalate if it persists."),
    (30410, "undelivered", "provider_outage", 3, "Provider Timeout Error", "Provider disruption or timeout",
     "Twilio fails these rather than risk a duplicate; check status.twilio.com and re-send later with "
     "`smsrelay retry` (at most 3 times)."),
    (30500, "failed", "provider_outage", 3, "Twilio Internal Error", "Twilio internal error",
     "Check status.twilio.com; re-send with `smsrelay retry` (at most 3 times); contact Twilio Support with Message SIDs if it repeats."),
    (30020, "failed", "provider_outage", 3, "Internal Failure with Message Scheduling", "Twilio's message scheduler failed",
     "Check status.twilio.com; re-send with `smsrelay retry` (at most 3 times); contact Twilio Support if it persists."),
    (30021, "failed", "provider_outage", 3, "Internal Failure with messaging service orchestrator",
     "Twilio's Messaging Service orchestrator failed",
     "Check status.twilio.com; re-send with `smsrelay retry` (at most 3 times); contact Twilio Support if it persists."),
)

SOURCES = {
    30002: page(30002),
    30010: page(30010),
    30037: not_found(30037, TITLE_ONLY),
    30024: page(30024),
    30032: page(30032),
    30033: not_found(30033, TITLE_ONLY),
    30034: not_found(30034, TITLE_ONLY),
    30035: not_found(30035, TITLE_ONLY),
    30018: not_found(30018, TITLE_ONLY),
    30042: page(30042),
    30004: page(30004, "https://www.twilio.com/es-mx/docs/api/errors/30004"),
    30007: not_found(30007, "only a staging copy (https://blue.docs.stage.twilio.com/docs/api/errors/30007) is "
                            "stored; meaning and action from it"),
    30038: page(30038),
    30110: page(30110),
    30001: page(30001),
    30017: page(30017),
    30022: page(30022),
    30023: not_found(30023, TITLE_ONLY),
    30027: not_found(30027, TITLE_ONLY),
    30036: page(30036),
    30450: page(30450),
    30003: page(30003),
    30005: not_found(30005, "title from Twilio's error dictionary, meaning and action from the runbook"),
    30006: page(30006),
    30009: page(30009),
    30011: page(30011),
    30019: page(30019),
    30012: page(30012),
    30015: page(30015),
    30016: page(30016),
    30008: not_found(30008, "title from Twilio's error dictionary, meaning from the runbook ('Retry needed')"),
    30410: page(30410),
    30500: page(30500),
    30020: page(30020, "https://twilio.com/fr/docs/api/errors/30020"),
    30021: page(30021, "https://www.twilio.com/es-mx/docs/api/errors/30021"),
}
