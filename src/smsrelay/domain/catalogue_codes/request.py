"""Request errors of Messages create (21xxx): Twilio refused the request, nothing was sent.

Two depart from the runbook on purpose (docs/design.md, "Where we follow Twilio"): 21408 is a
Geo Permissions setting (not retryable) and 21608 an unverified recipient on a trial account.
"""

ROWS = (
    # --- destination ---------------------------------------------------------------------------
    (21211, 400, "destination", 0, "Invalid 'To' Phone Number", "Invalid To number",
     "Phone format issue: fix the number (E.164) at the source."),
    (21610, 400, "destination", 0, "Attempt to send to unsubscribed recipient", "Recipient opted out (replied STOP)",
     "Do not send; the recipient must text START to opt back in."),
    (21614, 400, "destination", 0, "'To' number is not a valid mobile number", "Not a mobile number",
     "The number cannot receive SMS (landline or invalid); use another contact method."),
    # --- sender ----------------------------------------------------------------------------------
    (21212, 400, "sender_number", 0, "Invalid 'From' Phone Number", "Invalid From number",
     "Configure a From number (or Messaging Service) the account owns, in E.164."),
    (21601, 400, "sender_number", 0, "Phone number is not a valid SMS-capable inbound phone number",
     "From number cannot send SMS", "Use an SMS-capable number of this account as the sender."),
    (21606, 400, "sender_number", 0, "The 'From' phone number provided is not a valid message-capable Twilio phone number "
                                     "for this destination/account",
     "Sender cannot message this destination",
     "Check the From number is owned by this account, SMS-capable, fully ported, and (short codes) in the To country."),
    (21612, 400, "sender_number", 0, "Message cannot be sent with the current combination of 'To' and/or 'From' parameters",
     "Sender/recipient combination not routable",
     "Check sender-ID rules for the destination country and that both numbers are E.164."),
    (21621, 400, "sender_number", 0, "The 'From' number has not been enabled for MMS", "Sender cannot send MMS",
     "Send MMS from an MMS-capable number, or send the text without media."),
    (21657, 400, "sender_number", 0, "The Sender ID is invalid", "Sender ID not allowed for this destination",
     "Use a sender ID the destination country supports, register it where required, or set a default sender ID."),
    # --- account ---------------------------------------------------------------------------------
    (21607, 400, "account", 0, "The 'From' number must be a verified number for trial accounts",
     "Trial account sender restriction", "Upgrade the account, or send from the trial account's own number."),
    (21608, 400, "account", 0, "The 'To' phone number provided is not yet verified for this account.",
     "Recipient not verified (trial account)",
     "Verify the recipient in the Twilio Console, or upgrade the account and get a primary compliance profile approved."),
    # --- geo permissions -------------------------------------------------------------------------
    (21408, 400, "geo_permissions", 0,
     "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
     "Region not enabled in Geo Permissions",
     "Enable the destination country under Messaging Geo Permissions in the Twilio Console; do not retry before."),
    # --- rate limiting ---------------------------------------------------------------------------
    (21611, 400, "rate_limiting", 3, "This 'From' number has exceeded the maximum number of queued messages",
     "Sender queue full (over 10 hours of traffic)",
     "Slow the send rate or add senders; the worker retries it up to 3 times as the queue drains."),
    # --- the request itself ----------------------------------------------------------------------
    (21266, 400, "request", 0, "'To' and 'From' cannot be the same", "Message to its own sender",
     "Do not send from a number to itself."),
    (21421, 400, "request", 0, "PhoneNumber is invalid", "Invalid phone number in a number lookup",
     "Pass the number in E.164."),
    (21452, 400, "request", 0, "No phone numbers found", "Number search without a match or a criterion",
     "Give a PhoneNumber or AreaCode that matches numbers of the account."),
    (21602, 400, "request", 0, "Message body is required", "Empty body",
     "Send a body, media or a ContentSid."),
    (21603, 400, "request", 0, "'From' phone number is required", "No sender",
     "Configure a From number or Messaging Service for the org."),
    (21604, 400, "request", 0, "'To' phone number is required", "No recipient", "Send a To number."),
    (21605, 400, "request", 0, "Maximum body length is 160 characters", "Body too long (legacy endpoint)",
     "Use the Messages resource, which concatenates up to 1600 characters."),
    (21609, 400, "request", 0, "Invalid StatusCallback", "Invalid status callback URL",
     "Set PUBLIC_BASE_URL to a valid absolute https URL."),
    (21617, 400, "request", 0, "The concatenated message body exceeds the 1600 character limit", "Body over 1600 characters",
     "Shorten the message; our API refuses such bodies, so look at what bypassed it."),
    (21618, 400, "request", 0, "The message body cannot be sent", "Body contains characters that cannot be sent",
     "Remove NUL and other invalid characters from the body."),
    (21619, 400, "request", 0, "A text message body or media URL must be specified", "No body and no media",
     "Send a body or a MediaUrl."),
    (21620, 400, "media", 0, "Invalid media URL(s)", "A MediaUrl is not a valid URL", "Fix the MediaUrl."),
    (21623, 400, "request", 0, "Number of media files exceeds allowed limit", "Too many media files",
     "Send at most 10 media files per message (1 on WhatsApp)."),
    (21624, 400, "request", 0, "Invalid validity period value", "ValidityPeriod out of range",
     "Send a ValidityPeriod between 1 and 36000 seconds."),
    (21910, 400, "channel", 0, "Invalid From and To pair. From and To should be of the same channel", "Channels mixed",
     "Send WhatsApp from a whatsapp: sender to a whatsapp: address, SMS and MMS between phone numbers."),
    (21654, 400, "channel", 0, "ContentSid Required", "A template send without ContentSid",
     "Send the ContentSid of an approved Content template."),
    (21655, 400, "channel", 0, "The ContentSid is Invalid", "Unknown or malformed ContentSid",
     "Use the ContentSid (HX...) of an existing Content template of this account."),
    (21656, 400, "channel", 0, "The ContentVariables Parameter is invalid", "Template variables malformed",
     "Send ContentVariables as a JSON string with a non-empty value for every placeholder."),
    (21658, 400, "request", 0, "Parameter exceeded character limit", "A parameter over 1600 characters",
     "Shorten the body or the template variable to 1600 characters or fewer."),
)
READ = (21656, 21657, 21658)
UNDOCUMENTED = ()
