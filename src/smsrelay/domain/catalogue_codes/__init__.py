"""The error catalogue's entries, by family (domain/catalogue.py builds the catalogue from them).

Each row: (code, where, cause, retries, Twilio's title, meaning, action). ``where`` is the HTTP
status Twilio answers ``messages.create`` with (an API error), or the final status a message
reaches when the code comes on a status callback (a delivery error). ``retries``: for an API
error, how many times the worker retries it on its own (service/outbound/dispatch.py); for a
delivery error, how many times `smsrelay retry` may re-send one message's lineage (a status
callback is final: nothing re-sends it automatically).

``SOURCES`` says, per code, where the row's texts come from: the Twilio error page that was
actually read (``page``), or that no page for it is in the stored copy of Twilio's docs searched
for this catalogue and what the texts rest on instead (``not_found``). A row without a source
fails the import (domain/catalogue.py), so a new code cannot arrive unsourced.
"""

DOCS = "https://www.twilio.com/docs/api/errors/"


def page(code: int, url: str | None = None) -> str:
    """The page read; ``url`` when it was a localised copy (same English text) or a ``.md`` view."""
    return url or f"{DOCS}{code}"


def not_found(code: int, instead: str) -> str:
    return f"not found: no page for {code} in the stored copy of Twilio's docs ({DOCS}{code}); {instead}"


TITLE_ONLY = "title from Twilio's error dictionary, meaning and action from the runbook and Twilio's other pages"
