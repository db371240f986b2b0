"""Media retrieval and HTTP errors (11xxx), document errors (12xxx) and TwiML <Message>
errors (14xxx): what Twilio says when it fetches an MMS MediaUrl or one of our webhooks."""

ROWS = (
    (11200, "failed", "media", 0, "HTTP retrieval failure", "A URL Twilio fetched did not answer",
     "Make the MediaUrl (or webhook) reachable over HTTPS and answering within 15 s; re-send after."),
    (11205, "failed", "media", 0, "HTTP connection failure", "Twilio could not connect to the URL",
     "Check the host is up, its firewall allows Twilio, and the port is right."),
    (11206, "failed", "media", 0, "HTTP protocol violation", "The URL answered with invalid HTTP",
     "Fix the server's HTTP response (headers, chunking, redirects)."),
    (11210, "failed", "media", 0, "HTTP bad host name", "The URL's host name does not resolve",
     "Fix the host name in the MediaUrl or webhook URL."),
    (11220, "failed", "media", 0, "SSL/TLS Handshake Error", "TLS handshake with the URL failed",
     "Serve a valid certificate chain and a TLS version Twilio supports."),
    (11750, "failed", "media", 0, "TwiML response body too large", "Webhook answer over Twilio's size limit",
     "Shorten the TwiML the webhook returns."),
    (12100, "failed", "media", 0, "Document parse failure", "Twilio could not parse the fetched document",
     "Return well-formed TwiML/XML from the URL."),
    (12200, "failed", "media", 0, "Schema validation warning", "The fetched document does not follow the schema",
     "Fix the TwiML against Twilio's schema."),
    (12300, "failed", "media", 0, "Invalid Content-Type", "The fetched media's Content-Type is not accepted",
     "Serve the media with a supported Content-Type (image/jpeg, image/png, ...)."),
    (14107, "failed", "rate_limiting", 1, "SMS send rate limit exceeded", "Too many messages between two numbers",
     "Look for a reply loop or runaway job between the two numbers; `smsrelay retry` may re-send once after."),
    (14109, "failed", "request", 0, "TwiML Reply message limit exceeded", "More than 10 TwiML replies to one message",
     "Reply with at most 10 <Message> verbs; send more through the Messages API."),
)
READ = (14107, 14109)
UNDOCUMENTED = ()
