"""Account, authentication and REST API errors (10xxx, 20xxx), and the Messaging 404 (30404)."""

from smsrelay.domain.catalogue_codes import TITLE_ONLY, not_found, page

TRANSIENT = 8  # = unknown_outcomes.TRANSIENT_RETRIES: a 5xx is retried like any transient failure

ROWS = (
    # Twilio reports 10001 in its logs and on the message rather than as a documented REST
    # status; a message hit by it ends failed.
    (10001, "failed", "account", 0, "Account is not active", "Account or subaccount not active (suspended)",
     "Add funds so the balance is above $0 (reactivation takes 5-10 minutes), set a suspended subaccount "
     "back to active, or contact Twilio Support after a policy suspension."),
    (20001, 400, "request", 0, "Invalid or missing parameter", "Request parameters rejected",
     "Fix the request (a parameter is missing or malformed); re-sending it unchanged fails the same way."),
    (20003, 401, "account", 0, "Permission Denied", "Authentication failed",
     "Check the Account SID / Auth Token or API key (deleted, wrong region, test credentials, stray spaces) "
     "and that the account is not suspended or closed."),
    (20004, 405, "request", 0, "Method not allowed", "HTTP method not allowed on this resource",
     "A bug in the caller: the resource exists but does not take this HTTP method."),
    (20005, 403, "account", 0, "Account not active", "Account not active (out of funds or trial not activated)",
     "Add funds or activate the account in the Twilio Console; contact Twilio Support if it stays inactive."),
    (20008, 403, "account", 0, "Cannot access this resource with Test Credentials",
     "Test credentials used for a resource they cannot reach",
     "Configure the live Account SID and Auth Token; test credentials reach only a few resources."),
    # The page gives no HTTP status; a disabled action is a permission, so 403 is assumed.
    (20010, 403, "account", 0, "Action disabled for account", "The action was disabled for this account",
     "Contact Twilio Support: the action has been disabled for the account."),
    (20403, 403, "account", 0, "403 Forbidden", "Account lacks API access (suspended or closed)",
     "Check the account status in the Twilio Console and contact Twilio Support."),
    (20404, 404, "account", 0, "Not Found", "Resource not found",
     "Check the Account SID and the Messaging Service SID / From configured for the org (wrong or deleted SID)."),
    (30404, 404, "account", 0, "Not Found", "Messaging resource not found",
     "Check the AccountSid and MessagingServiceSid, and that requests go to https://api.twilio.com."),
    (20429, 429, "rate_limiting", 5, "Too many requests", "REST API concurrency limit exceeded",
     "Twilio did not process the request, so it is safe to retry: the worker retries it with backoff (up to 5 "
     "times); lower the org's send rate if it persists."),
    # Twilio's own page warns that retrying a 500 on a send can deliver the message twice: the
    # worker asks Twilio whether the message exists before it sends again.
    (20500, 500, "provider_outage", TRANSIENT, "Internal Server Error", "Twilio API internal error or timeout",
     "Check status.twilio.com; the message may exist at Twilio, so the worker asks before it retries with backoff."),
    (20503, 503, "provider_outage", TRANSIENT, "Service unavailable", "Twilio service temporarily unavailable",
     "Check status.twilio.com; the worker retries with exponential backoff, asking first whether the message exists."),
    (20504, 504, "provider_outage", TRANSIENT, "Gateway Timeout", "Twilio edge timed out",
     "The message may exist at Twilio: the worker asks before it retries; check status.twilio.com."),
)

SOURCES = {
    10001: page(10001),
    20001: not_found(20001, TITLE_ONLY),
    20003: page(20003),
    20004: page(20004, "https://twilio.com/fr/docs/api/errors/20004"),
    20005: page(20005),
    20008: page(20008),
    20010: page(20010, "https://twilio.com/fr/docs/api/errors/20010"),
    20403: page(20403),
    20404: page(20404, "https://www.twilio.com/de/docs/api/errors/20404"),
    30404: page(30404),
    20429: page(20429),
    20500: page(20500),
    20503: page(20503),
    20504: not_found(20504, "only Voice's 31504 Gateway Timeout page is stored; text as Twilio's edges "
                            "(and our simulator) send it, handled like 20500"),
}
