-- Accepting an outbound message and reading or locking its "MessageLog" row
-- (service/outbound: messages.py, batch.py, admission.py, spend_guard.py); every concept that
-- touches a message row locks and annotates it with the blocks here.

-- ==== accept and idempotency ====

-- get_idempotency --
SELECT * FROM "IdempotencyKey" WHERE "orgId" = %(org_id)s AND "key" = %(key)s;

-- insert_idempotency --
-- A concurrent request with the same key loses the race here and replays the winner's answer.
INSERT INTO "IdempotencyKey" ("orgId", "key", "requestHash", "responseStatus", "responseBody")
VALUES (%(org_id)s, %(key)s, %(request_hash)s, %(response_status)s, %(response_body)s)
ON CONFLICT DO NOTHING
RETURNING "orgId";

-- insert_outbound_with_jobs --
-- Accepted messages' rows and their "SendQueue" rows in one statement (one round trip for a single
-- send, one for a whole batch), fed from the rows the INSERT returned (a queue row exists only for
-- a stored message); the queue's statement trigger wakes the workers once for all. The arrays
-- travel in binary (the "b" placeholders): quoting a thousand JSON documents into a text array
-- literal costs the API process more than the INSERT costs PostgreSQL.
WITH inserted AS (
    INSERT INTO "MessageLog" ("id", "orgId", "channel", "direction", "status", "from", "to", "content",
                              "segments", "encoding", "metadata")
    SELECT m.id, %(org_id)s, 'sms', 'outbound', 'queued', m.sender, m.recipient, m.content,
           m.segments, m.encoding, m.metadata
    FROM unnest(%(ids)b::text[], %(froms)b::text[], %(tos)b::text[], %(contents)b::text[],
                %(segments)b::int[], %(encodings)b::text[], %(metadata)b::jsonb[])
         AS m(id, sender, recipient, content, segments, encoding, metadata)
    RETURNING "id"
), queued AS (
    INSERT INTO "SendQueue" ("messageId", "orgId")
    SELECT "id", %(org_id)s FROM inserted
    RETURNING 1
)
SELECT count(*)::int AS jobs FROM queued;

-- ==== admission and the daily cap ====

-- has_outbound_to --
-- Whether this org ever messaged this recipient (A2P: the first message carries opt-out words).
-- One probe of "MessageLog_to_idx"; OFFSET 0 keeps the planner from ANDing in the ("direction", …)
-- index, which it did under stale statistics (a growing table): a scan of every outbound row on
-- each send, the largest share of PostgreSQL's CPU in the end-to-end benchmark.
SELECT 1 AS "sent" FROM (SELECT "orgId", "direction" FROM "MessageLog" WHERE "to" = %(to)s OFFSET 0) m
WHERE m."orgId" = %(org_id)s AND m."direction" = 'outbound'
LIMIT 1;

-- batch_messaged --
-- has_outbound_to for many recipients: one probe of "MessageLog_to_idx" each, stopping at the
-- first row of this org. OFFSET 0 keeps the org and direction filters out of the index scan: with
-- stale statistics the planner would otherwise AND in the ("direction", …) index, a scan of
-- every outbound row per recipient.
SELECT p AS "to" FROM unnest(%(phones)s::text[]) AS p
CROSS JOIN LATERAL (SELECT 1 FROM (SELECT "orgId", "direction" FROM "MessageLog" WHERE "to" = p OFFSET 0) m
                    WHERE m."orgId" = %(org_id)s AND m."direction" = 'outbound'
                    LIMIT 1) AS sent;

-- lock_daily_cap --
-- Serialises the cap check of one org's concurrent sends (only orgs with a cap pay for it).
SELECT pg_advisory_xact_lock(hashtext('daily-cap:' || %(org_id)s));

-- get_message --
SELECT * FROM "MessageLog" WHERE "id" = %(id)s AND "orgId" = %(org_id)s;

-- get_message_any_org --
SELECT * FROM "MessageLog" WHERE "id" = %(id)s;

-- list_messages --
SELECT * FROM "MessageLog"
WHERE "orgId" = %(org_id)s
  AND (%(status)s::text IS NULL OR "status" = %(status)s)
  AND (%(to)s::text IS NULL OR "to" = %(to)s)
  AND (%(since)s::timestamptz IS NULL OR "createdAt" >= %(since)s)
  AND (%(before)s::timestamptz IS NULL OR "createdAt" < %(before)s)
ORDER BY "createdAt" DESC, "id" DESC
LIMIT %(limit)s;

-- message_events --
SELECT "id", "status", "errorCode", "payload", "receivedAt" FROM "MessageEvent"
WHERE "messageId" = %(message_id)s
ORDER BY "receivedAt", "id";

-- lock_message --
SELECT * FROM "MessageLog" WHERE "id" = %(id)s FOR UPDATE;

-- merge_metadata --
UPDATE "MessageLog" SET "metadata" = "metadata" || %(metadata)s, "updatedAt" = now()
WHERE "id" = %(id)s;

-- outbound_segments_since --
-- The daily cap counts what Twilio bills: segments, not messages.
SELECT coalesce(sum("segments"), 0)::int AS n FROM "MessageLog"
WHERE "orgId" = %(org_id)s AND "createdAt" >= %(since)s AND "direction" = 'outbound';
