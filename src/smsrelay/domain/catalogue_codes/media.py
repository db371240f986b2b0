"""Media retrieval and HTTP errors (11xxx), document errors (12xxx) and TwiML <Message>
errors (14xxx): what Twilio says when it fetches an MMS MediaUrl or one of our webhooks."""

from smsrelay.domain.catalogue_codes import TITLE_ONLY, not_found, page

ROWS = (
    (11100, "failed", "media", 0, "Invalid URL format", "A URL Twilio was given is malformed",
     "Give a fully qualified URL (protocol, host name, path, URL-encoded query) reachable over the public Internet."),
    (11200, "failed", "media", 0, "HTTP retrieval failure", "A URL Twilio fetched failed for an unidentified reason",
     "Make the MediaUrl (or webhook) public and answer 2xx quickly: no 4xx/5xx, bad redirect, HTTP Auth, firewall "
     "block or missing/wrong Content-Type; re-send after."),
    (11205, "failed", "media", 0, "HTTP connection failure", "Twilio could not connect to the URL",
     "Twilio tries 10 s to connect and waits 15 s in all: make the URL public (no private IP or localhost) "
     "and check the host, its firewall and logs."),
    (11206, "failed", "media", 0, "HTTP protocol violation", "The URL answered with invalid HTTP",
     "Fix the server's HTTP response (malformed data, HTTP sent to an HTTPS port, invalid or unnamed cookies)."),
    (11210, "failed", "media", 0, "HTTP bad host name", "The URL's host name does not resolve",
     "Give the URL a host name with a public DNS record (not one only in /etc/hosts)."),
    (11217, "failed", "media", 0, "HTTP error response code", "The URL answered with a 4xx or 5xx status",
     "Fix the URL or the server so it answers 2xx; Twilio's fetches do not honour rate limiting (429)."),
    (11220, "failed", "media", 0, "SSL/TLS Handshake Error", "TLS handshake with the URL failed",
     "Serve a valid certificate chain and a TLS version Twilio supports."),
    (11750, "failed", "media", 0, "TwiML response body too large", "Webhook answer over 64 kB",
     "Answer Twilio's webhook with TwiML of 64 kB or less (an empty <Response/> for a status callback)."),
    (11751, "failed", "media", 0, "Media Message - Media exceeds messaging provider size limit",
     "The message's media together exceed the channel's size limit",
     "Split the media over several messages, or send smaller files."),
    (12100, "failed", "media", 0, "Document parse failure", "Twilio could not parse the fetched XML document",
     "Return well-formed TwiML: nothing before the XML header, a <Response> root, closed and quoted elements."),
    (12200, "failed", "media", 0, "Schema validation warning", "The fetched TwiML does not follow Twilio's schema",
     "Fix misspelled or wrongly cased verbs, unknown attributes and unexpected nesting at the line the warning names."),
    (12300, "failed", "media", 0, "Invalid Content-Type", "The fetched URL's Content-Type is missing or not accepted",
     "Serve the media (or TwiML) with a supported Content-Type; a missing one shows as a 502."),
    (14107, "failed", "rate_limiting", 1, "SMS send rate limit exceeded", "Too many messages between two numbers",
     "Look for a reply loop or runaway job between the two numbers; `smsrelay retry` may re-send once after."),
    (14109, "failed", "request", 0, "TwiML Reply message limit exceeded", "More than 10 TwiML replies to one message",
     "Reply with at most 10 <Message> verbs; send more through the Messages API."),
)

SOURCES = {
    11100: page(11100),
    11200: page(11200),
    11205: page(11205),
    11206: page(11206),
    11210: page(11210, "https://twilio.com/fr/docs/api/errors/11210"),
    11217: page(11217),
    11220: not_found(11220, TITLE_ONLY),
    11750: page(11750),
    11751: page(11751, "https://twilio.com/fr/docs/api/errors/11751"),
    12100: page(12100),
    12200: page(12200),
    12300: page(12300, "https://twilio.com/docs/errors/12300"),
    14107: page(14107),
    14109: page(14109),
}
