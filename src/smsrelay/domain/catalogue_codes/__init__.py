"""The error catalogue's entries, by family (domain/catalogue.py builds the catalogue from them).

Each row: (code, where, cause, retries, Twilio's title, meaning, action). ``where`` is the HTTP
status Twilio answers ``messages.create`` with (an API error), or the final status a message
reaches when the code comes on a status callback (a delivery error). ``retries``: for an API
error, how many times the worker retries it on its own (service/outbound/dispatch.py); for a
delivery error, how many times `smsrelay retry` may re-send one message's lineage (a status
callback is final: nothing re-sends it automatically).

``READ`` lists the codes whose Twilio page was read for this catalogue; ``UNDOCUMENTED`` the
codes Twilio's dictionary has no page for (edges and our simulator send them).
"""
