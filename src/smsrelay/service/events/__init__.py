"""Events orgs hear back: the outbox the "MessageLog" triggers fill (migration 0020), its
delivery to orgs' endpoints (delivery.py), the events feed (feed.py) and an org's webhook
settings, secrets, delivery log and replays (webhooks.py)."""
