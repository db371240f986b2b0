"""Delivery errors (30xxx): Twilio accepted the message and a status callback reports it failed
or undelivered. A callback is final: nothing re-sends it on its own. `retries` > 0 is how many
times `smsrelay retry` may re-send one message's lineage, once the cause has cleared."""

ROWS = (
    # --- account ---------------------------------------------------------------------------------
    (30002, "failed", "account", 0, "Account suspended", "Account suspended",
     "Check balance and suspension emails; add funds or contact Twilio Support, then `smsrelay retry --codes 30002 --yes` once the account is active."),
    # Twilio retired MaxPrice on 2024-06-03; seeing 30010 means an old request still sends it.
    (30010, "failed", "account", 0, "Message price exceeds max price", "Price above MaxPrice",
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
    # --- content filtering -----------------------------------------------------------------------
    (30004, "undelivered", "content_filtering", 0, "Message blocked", "Message blocked",
     "Carrier spam filter: review content, remove URL shorteners, check A2P compliance."),
    (30007, "undelivered", "content_filtering", 0, "Message filtered", "Carrier violation",
     "Content issue: review the template for spam triggers and A2P compliance."),
    (30038, "failed", "content_filtering", 0, "OTP Message Body Filtered", "Inbound one-time passcode filtered",
     "Twilio does not deliver OTP messages to its numbers; nothing to retry."),
    # --- rate limiting ---------------------------------------------------------------------------
    (30001, "failed", "rate_limiting", 3, "Queue overflow", "Queue overflow",
     "Too many messages too fast for the sender's throughput; slow down, then `smsrelay retry` (up to 3 times)."),
    (30017, "undelivered", "rate_limiting", 3, "Carrier network congestion", "Carrier MMS congestion",
     "Spread MMS sends over time; `smsrelay retry` may re-send up to 3 times once it eases."),
    (30022, "undelivered", "rate_limiting", 3, "US A2P 10DLC - Rate Limits Exceeded", "Campaign rate limit exceeded",
     "Slow the send rate to the campaign's carrier limit, then `smsrelay retry` (up to 3 times)."),
    # Retrying inside the same day only hits the cap again.
    (30023, "undelivered", "rate_limiting", 0, "US A2P 10DLC - Daily Message Cap Reached", "Daily carrier cap reached",
     "Wait for the daily cap to reset or raise the brand's trust score / cap."),
    (30027, "undelivered", "rate_limiting", 0, "US A2P 10DLC - T-Mobile Daily Message Limit Reached",
     "T-Mobile daily cap reached", "Wait for the daily cap to reset or raise the brand's trust score."),
    (30036, "failed", "rate_limiting", 1, "Validity Period Expired", "Expired in Twilio's queue",
     "Pace sends closer to the sender's throughput or lengthen the validity period; `smsrelay retry` may re-send once."),
    # --- geo / fraud guard -----------------------------------------------------------------------
    (30450, "failed", "geo_permissions", 0, "Message delivery blocked - SMS Pumping Protection",
     "Blocked by SMS Pumping Protection",
     "Review the destination prefixes blocked under Messaging > Settings > SMS Pumping Protection."),
    # --- destination -----------------------------------------------------------------------------
    (30003, "undelivered", "destination", 0, "Unreachable destination handset", "Unreachable destination",
     "Normal, user phone issue (off, no signal, roaming); no action unless widespread."),
    (30005, "undelivered", "destination", 0, "Unknown destination handset", "Unknown destination",
     "Invalid phone number: the number does not exist or is no longer in service."),
    (30006, "undelivered", "destination", 0, "Landline or unreachable carrier", "Landline destination",
     "Can't SMS to landline; mark the number and use another channel."),
    (30009, "undelivered", "destination", 0, "Missing segment", "A segment of a long message was lost",
     "The handset did not receive every segment; shorten the message."),
    (30011, "undelivered", "media", 0, "MMS not supported by the receiving phone in this region",
     "MMS not supported at the destination", "Send the text without media."),
    (30019, "undelivered", "media", 0, "Content size exceeds carrier limit", "Media too large for the carrier",
     "Compress or shrink the media below the destination carrier's MMS limit."),
    (30012, "failed", "request", 0, "TTL is too small", "ValidityPeriod below the minimum",
     "Send a larger ValidityPeriod (seconds), or none."),
    # --- provider outage -------------------------------------------------------------------------
    # A 30008 comes on a status callback: nothing retries it automatically; `smsrelay retry`
    # re-sends it, at most 3 times per message lineage.
    (30008, "undelivered", "provider_outage", 3, "Unknown error", "Unknown error",
     "Not retried automatically (a callback is final): re-send with `smsrelay retry` (at most 3 times); escalate if it persists."),
    (30410, "undelivered", "provider_outage", 3, "Provider Timeout Error", "Carrier did not answer in time",
     "Check status.twilio.com; re-send with `smsrelay retry` (at most 3 times) once it recovers."),
    (30500, "failed", "provider_outage", 3, "Twilio Internal Error", "Twilio internal error",
     "Check status.twilio.com; re-send with `smsrelay retry` (at most 3 times); contact Twilio Support with Message SIDs if it repeats."),
)
READ = (30002, 30012, 30017, 30024, 30032, 30036, 30038)
UNDOCUMENTED = ()
