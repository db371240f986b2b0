"""Account, authentication and REST API errors (10xxx, 20xxx)."""

TRANSIENT = 8  # = unknown_outcomes.TRANSIENT_RETRIES: a 5xx is retried like any transient failure

ROWS = (
    # Twilio reports 10001 in its logs and on the message rather than as a documented REST
    # status; a message hit by it ends failed.
    (10001, "failed", "account", 0, "Account is not active", "Account not active",
     "Check the Twilio account balance and suspension notices; top up or contact Twilio Support."),
    (20001, 400, "request", 0, "Invalid or missing parameter", "Request parameters rejected",
     "Fix the request (a parameter is missing or malformed); re-sending it unchanged fails the same way."),
    (20003, 401, "account", 0, "Permission Denied", "Authentication failed",
     "Verify the Account SID and Auth Token / API key in our settings; check the account is not suspended."),
    (20004, 405, "request", 0, "Method not allowed", "HTTP method not allowed on this resource",
     "A bug in the caller: the resource does not accept this HTTP method."),
    (20005, 403, "account", 0, "Account not active", "Account not active",
     "Check the account status in the Twilio Console (suspended or closed) and contact Twilio Support."),
    (20008, 403, "account", 0, "Resource not accessible with Test Account Credentials",
     "Test credentials used for a live resource",
     "Configure the live Account SID and Auth Token; test credentials cannot send real messages."),
    (20403, 403, "account", 0, "403 Forbidden", "Account lacks API access (suspended or closed)",
     "Check the account status in the Twilio Console and contact Twilio Support."),
    (20404, 404, "account", 0, "The requested resource was not found", "Resource not found",
     "Check the Account SID and the Messaging Service SID / From number configured for the org."),
    (20429, 429, "rate_limiting", 5, "Too Many Requests", "API rate limit exceeded",
     "Back off and retry per Retry-After (the worker does, up to 5 times); lower maxMessagesPerMinute if it persists."),
    (20500, 500, "provider_outage", TRANSIENT, "Internal Server Error", "Twilio internal server error",
     "Check status.twilio.com; the worker retries it with backoff after asking Twilio whether the message exists."),
    (20503, 503, "provider_outage", TRANSIENT, "Service Unavailable", "Twilio API unavailable",
     "Check status.twilio.com; the worker retries it with backoff after asking Twilio whether the message exists."),
    (20504, 504, "provider_outage", TRANSIENT, "Gateway Timeout", "Twilio edge timed out",
     "The message may exist at Twilio: the worker asks before it retries; check status.twilio.com."),
)
READ = ()
UNDOCUMENTED = (20001, 20504)
