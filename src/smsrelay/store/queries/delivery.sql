-- What Twilio tells us after the send (service/delivery: status_callbacks.py,
-- status_updates.py, reconcile.py, inbound.py): status callbacks and their events, the
-- reconciler's stale messages, inbound messages.

-- ==== status callbacks ====

-- lock_message_by_sid --
SELECT * FROM "MessageLog" WHERE "twilioSid" = %(sid)s FOR UPDATE;

-- insert_event --
-- A retried or duplicated callback is the same event: stored once, applied once.
INSERT INTO "MessageEvent" ("messageId", "twilioSid", "status", "errorCode", "idempotencyToken", "payload")
VALUES (%(message_id)s, %(sid)s, %(status)s, %(error_code)s, %(token)s, %(payload)s)
ON CONFLICT DO NOTHING
RETURNING "id";

-- update_message --
-- The caller holds the row lock and has decided the transition with the domain lattice.
UPDATE "MessageLog"
SET "status" = %(status)s,
    "twilioSid" = coalesce("twilioSid", %(twilio_sid)s),
    "metadata" = "metadata" || %(metadata)s,
    "sentAt" = CASE WHEN %(status)s IN ('sent', 'delivered', 'undelivered', 'read') THEN coalesce("sentAt", now()) ELSE "sentAt" END,
    "finalAt" = CASE WHEN %(final)s THEN coalesce("finalAt", now()) ELSE "finalAt" END,
    "updatedAt" = now()
WHERE "id" = %(id)s
RETURNING *;

-- ==== reconcile ====

-- insert_inbound --
INSERT INTO "MessageLog" ("id", "orgId", "channel", "direction", "status", "from", "to", "content",
                          "segments", "encoding", "twilioSid", "metadata")
VALUES (%(id)s, %(org_id)s, 'sms', 'inbound', 'received', %(from_)s, %(to)s, %(content)s,
        %(segments)s, %(encoding)s, %(twilio_sid)s, %(metadata)s)
ON CONFLICT ("twilioSid") DO NOTHING
RETURNING *;

-- reconcile_batch --
-- Open messages with a sid and no final status past the age at which a callback should have
-- come. Never checked first, then those checked longest ago, so rows Twilio keeps at `sent`
-- (carriers without delivery reports) go to the back instead of filling every batch; a row
-- checked in this run or within the last `recheck` seconds waits.
SELECT "id", "twilioSid", "status" FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('queued', 'sending', 'accepted', 'scheduled', 'sent')
  AND "twilioSid" IS NOT NULL AND "createdAt" < now() - make_interval(secs => %(older_than)s)
  AND "createdAt" > now() - interval '3 days'
  AND coalesce(("metadata"->>'reconciledAt')::timestamptz, '-infinity')
      < least(%(run_started)s::timestamptz, now() - make_interval(secs => %(recheck)s))
ORDER BY ("metadata"->>'reconciledAt')::timestamptz NULLS FIRST, "createdAt"
LIMIT %(limit)s;

-- unknown_outcome_messages --
-- Held because nobody could say whether Twilio has them (or because what Twilio accepted
-- could not be recorded), least recently looked at first.
SELECT "id" FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" = 'queued' AND "twilioSid" IS NULL
  AND "metadata"->>'outcome' = 'unknown'
ORDER BY "updatedAt"
LIMIT %(limit)s;
