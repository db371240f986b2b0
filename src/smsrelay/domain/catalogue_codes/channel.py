"""Channel errors (63xxx, and 35127 of Content templates): WhatsApp and the other channels
senders (Messenger, RCS) on the Messages API. Most come on the status callback; the message ends failed.

Twilio's WhatsApp error-code mapping (https://www.twilio.com/docs/whatsapp/api/error-code-mapping)
is the only stored page for several of them; it names the WhatsApp codes each one stands for."""

from smsrelay.domain.catalogue_codes import TITLE_ONLY, not_found, page

WA_MAPPING = "https://www.twilio.com/docs/whatsapp/api/error-code-mapping"


def _mapped(code: int, whatsapp: str) -> str:
    return not_found(code, f"{WA_MAPPING} maps WhatsApp {whatsapp} to it; {TITLE_ONLY}")


ROWS = (
    (63001, "failed", "channel", 0, "Channel could not authenticate the request. Please see Channel specific error "
                                    "message for more information", "Channel credentials rejected",
     "The channel rotated or revoked the sender's token (password change, app de-authorised): reconnect the "
     "sender, or delete and re-add it."),
    (63002, "failed", "channel", 0, "Channel could not find the From address", "Channel sender unknown",
     "Send from a registered channel sender in the channel's address format (whatsapp:+E.164)."),
    (63003, "failed", "destination", 0, "Channel could not find To address", "Recipient not on the channel",
     "The To is malformed, not an active user of the channel (e.g. no WhatsApp) or not the address that wrote in; "
     "check it (whatsapp:+E.164) or use SMS."),
    (63005, "failed", "channel", 0, "Channel did not accept given content. Please see Channel specific error message "
                                    "for more information", "Content refused by the channel",
     "Check the recipient has WhatsApp, the media file is valid, session-only fields are not sent outside the "
     "session, and the business may message that country."),
    (63006, "failed", "channel", 0, "Could not format given content for the channel. Please see Channel specific error "
                                    "message for more information", "Content in a format the channel cannot take",
     "Fix the content's format for the channel."),
    (63007, "failed", "channel", 0, "Twilio could not find a Channel with the specified 'From' address",
     "No channel sender for this From",
     "Use a From registered on a channel (not pending approval) with the credentials of the account that owns it."),
    (63008, "failed", "channel", 0, "Request failed: channel module misconfigured. Check Channel config in Twilio",
     "Channel configuration incomplete or addresses in the wrong format",
     "Correct the channel configuration and the From/To channel address formats."),
    (63011, "failed", "channel", 0, "Invalid Request: Twilio encountered an error while processing your request",
     "The channel provider did not return capabilities for the request",
     "Check the request against the channel's rules; contact Twilio Support with the Message SID if it repeats."),
    (63013, "failed", "content_filtering", 0, "Channel policy violation", "Blocked by the channel's policy",
     "Bring the content within the channel provider's policy (also: more than 4 consecutive spaces in a "
     "WhatsApp placeholder)."),
    (63014, "failed", "destination", 0, "Channel message blocked by user action",
     "The recipient blocked the sender or withdrew consent",
     "Stop sending to the recipient until they re-engage or opt in again."),
    (63015, "failed", "channel", 0, "Channel Sandbox can only send messages to phone numbers that have joined the Sandbox",
     "Recipient has not joined the sandbox", "Use a production sender, or have the recipient join the sandbox."),
    (63016, "failed", "channel", 0, "Outside messaging window. For WhatsApp, use a Message Template instead",
     "Free-form message outside the 24-hour window",
     "Send an approved template (ContentSid) outside the customer service window."),
    (63017, "failed", "rate_limiting", 3, "Rate limit exceeded", "Account and subaccounts above 2000 messages per second",
     "Slow submission below the account's combined limit; `smsrelay retry` may re-send up to 3 times after."),
    # WhatsApp's messaging-limit tier counts business-initiated conversations over 24 hours.
    (63018, "failed", "rate_limiting", 3, "Rate limit exceeded for Channel", "Channel throughput or messaging limit exceeded",
     "Slow the org's sends on this channel; a WhatsApp sender over its messaging limit must wait out the 24 hours, "
     "then `smsrelay retry` may re-send up to 3 times."),
    (63019, "failed", "media", 0, "Media failed to download", "Twilio could not fetch the media (or got 0 bytes)",
     "Check the media content and its URL before sending again."),
    (63020, "failed", "channel", 0, "Twilio encountered a Business Manager account error",
     "Meta Business Manager not approved", "Complete Meta Business verification for the WhatsApp Business Account."),
    (63021, "failed", "channel", 0, "Channel invalid content error", "Content invalid for the channel",
     "Check media MIME types, components and length (a WhatsApp template with its values at most 1024 characters)."),
    (63022, "failed", "channel", 0, "Invalid vname certificate", "WhatsApp display name certificate invalid",
     "Re-register the WhatsApp sender's display name."),
    (63023, "failed", "channel", 0, "Channel generic error", "The channel reported an unspecified error",
     "Look at the message's channel error detail in Twilio's logs; contact Twilio Support if it repeats."),
    (63024, "failed", "destination", 0, "Invalid message recipient", "Recipient cannot receive channel messages",
     "The number is not on WhatsApp, or its user has not accepted WhatsApp's latest terms or runs an old app: "
     "confirm the number, have them accept or update, or use SMS."),
    (63027, "failed", "channel", 0, "Template does not exist for a language and locale", "Template language missing",
     "Send the approved template in that language with the right parameters (ContentSid HX... and a Messaging Service)."),
    (63028, "failed", "channel", 0, "Number of parameters provided does not match the expected number of parameters",
     "Template variables do not match the template", "Send one value in ContentVariables per template placeholder."),
    (63030, "failed", "channel", 0, "Unsupported parameter for type of channels message", "Parameter the channel does not support",
     "Remove the parameter (e.g. media on a template type that has none)."),
    (63031, "failed", "request", 0, "Channels message cannot have same 'From' and 'To'", "Message to its own sender",
     "Correct the To and From of the request."),
    (63032, "failed", "destination", 0, "We cannot send this message to this user because of a WhatsApp limitation",
     "WhatsApp limitation for this user", "WhatsApp will not deliver to this user now; use another channel."),
    (63034, "failed", "media", 0, "Media exceeds size limit", "Media over the maximum size",
     "Send media of 5 MB or less."),
    (63038, "failed", "rate_limiting", 0, "Account exceeded the daily messages limit",
     "Account over its messages in a rolling 24 hours",
     "Wait for the 24-hour window to reset, or ask Twilio Support to raise the account's limit."),
    (63049, "failed", "content_filtering", 0, "Meta chose not to deliver this WhatsApp marketing message",
     "Marketing message not delivered by Meta",
     "US numbers get no WhatsApp marketing templates (since 2025-04-01): use SMS. Elsewhere Meta limits the user for a "
     "while: re-send later, not at once; use Utility/Authentication where the template fits."),
    (35127, 400, "channel", 0, "'Messages' Body and ContentVariables cannot be provided together",
     "A Body sent beside a content template's variables",
     "Send ContentSid and ContentVariables without a Body: the content template makes the text."),
)

SOURCES = {
    63001: page(63001, "https://www.twilio.com/docs/errors/63001"),
    63002: page(63002),
    63003: page(63003),
    63005: page(63005),
    63006: page(63006),
    63007: page(63007, "https://twilio.com/docs/errors/63007"),
    63008: page(63008),
    63011: page(63011),
    63013: page(63013),
    63014: page(63014),
    63015: not_found(63015, TITLE_ONLY),
    63016: page(63016),
    63017: page(63017),
    63018: page(63018),
    63019: page(63019),
    63020: _mapped(63020, "402"),
    63021: page(63021, "https://www.twilio.com/docs/errors/63021"),
    63022: _mapped(63022, "430, 432 and 433"),
    63023: page(63023),
    63024: page(63024, "https://www.twilio.com/docs/api/errors/63024.md"),
    63027: page(63027),
    63028: page(63028),
    63030: _mapped(63030, "1010"),
    63031: page(63031),
    63032: _mapped(63032, "472"),
    63034: page(63034),
    63038: page(63038),
    63049: page(63049, "https://static1.twilio.com/docs/api/errors/63049"),
    35127: page(35127),
}
