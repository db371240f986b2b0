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

-- accept_message --
-- A single send in one round trip (autocommit: the statement is its transaction). The API key and
-- its per-minute count, the idempotency key's stored answer, and everything the Python checks
-- could not know or that may have changed since the org was cached (its policies and the chosen
-- sender, opt-out, first contact, a daily cap) are read once; the row, its "SendQueue" row and
-- the idempotency answer are written only when every check passed. The caller passes both
-- variants of what depends on first contact and reads the flags to raise today's Problems.
-- No key: no row. Two requests racing on one idempotency key: the loser's INSERT violates the
-- key and the whole statement (its row included) is undone. A capped org is only flagged: its
-- cap needs a lock taken before the sum is read, which one statement's snapshot cannot give.
WITH k AS (
    SELECT "id", "orgId" FROM "ApiKey" WHERE "keyHash" = %(key_hash)s AND "revokedAt" IS NULL
), counted AS (
    INSERT INTO "RateCounter" ("key", "window", "count")
    SELECT 'api:' || k."id" || %(shard)s, %(window)s, %(increment)s FROM k
    ON CONFLICT ("key", "window") DO UPDATE SET "count" = "RateCounter"."count" + excluded."count"
    RETURNING "count"
), facts AS (
    -- The key's minute over all its counter shards (api_limits.py says why there are several).
    SELECT k."orgId",
           c."count" + (SELECT coalesce(sum(r."count"), 0) FROM "RateCounter" r
                        WHERE r."key" IN (SELECT 'api:' || k."id" || o FROM unnest(%(other_shards)s::text[]) o)
                          AND r."window" = %(window)s)::int AS "count",
           i."requestHash" AS "replayHash", i."responseStatus" AS "replayStatus",
           i."responseBody" AS "replayBody",
           (s."defaultRegion", s."contentPolicy", s."landlinePolicy")
               IS DISTINCT FROM (%(region)s::text, %(content_policy)s::text, %(landline_policy)s::text)
           OR s."allowedCountries" IS DISTINCT FROM %(countries)s::text[]
           OR (%(proceed)s AND NOT EXISTS (
                   SELECT 1 FROM "PhoneNumber" p
                   WHERE p."orgId" = k."orgId" AND p."number" IS NOT DISTINCT FROM %(sender)s::text
                     AND p."messagingServiceSid" IS NOT DISTINCT FROM %(service)s::text)) AS "stale",
           s."dailySendCap" IS NOT NULL AS "capped",
           EXISTS (SELECT 1 FROM "OptOut" o WHERE o."orgId" = k."orgId" AND o."phone" = %(to)s::text) AS "optedOut",
           -- has_outbound_to's probe (OFFSET 0 for the same reason).
           NOT EXISTS (SELECT 1 FROM (SELECT "orgId", "direction" FROM "MessageLog" WHERE "to" = %(to)s::text
                                      OFFSET 0) m
                       WHERE m."orgId" = k."orgId" AND m."direction" = 'outbound') AS "first"
    FROM k CROSS JOIN counted c
    JOIN "OrgSettings" s ON s."orgId" = k."orgId"
    LEFT JOIN "IdempotencyKey" i ON i."orgId" = k."orgId" AND i."key" = %(idempotency_key)s::text
), go AS (
    SELECT f."orgId", f."first" FROM facts f
    WHERE %(proceed)s AND f."count" <= %(per_minute)s AND f."replayHash" IS NULL AND NOT f."stale"
      AND NOT f."capped" AND NOT f."optedOut"
      AND NOT CASE WHEN f."first" THEN %(refuse_first)s ELSE %(refuse_repeat)s END
), inserted AS (
    INSERT INTO "MessageLog" ("id", "orgId", "channel", "direction", "status", "from", "to", "content",
                              "segments", "encoding", "metadata", "sendAt")
    SELECT %(id)s::text, go."orgId", %(channel)s::text, 'outbound', %(status)s::text, %(sender)s::text, %(to)s::text,
           %(content)s::text, %(segments)s::int, %(encoding)s::text,
           CASE WHEN go."first" THEN %(metadata_first)s::jsonb ELSE %(metadata_repeat)s::jsonb END,
           %(send_at)s::timestamptz
    FROM go
    RETURNING "id", "orgId", "sendAt"
), queued AS (
    -- A scheduled send is due at its "sendAt" (service/outbound/scheduling.py).
    INSERT INTO "SendQueue" ("messageId", "orgId", "dueAt") SELECT "id", "orgId", coalesce("sendAt", now()) FROM inserted
    RETURNING "messageId"
), remembered AS (
    INSERT INTO "IdempotencyKey" ("orgId", "key", "requestHash", "responseStatus", "responseBody")
    SELECT go."orgId", %(idempotency_key)s::text, %(request_hash)s::text, 202,
           CASE WHEN go."first" THEN %(response_first)s::jsonb ELSE %(response_repeat)s::jsonb END
    FROM go WHERE %(idempotency_key)s::text IS NOT NULL
    RETURNING "key"
)
SELECT f.*, EXISTS (SELECT FROM queued) AS "accepted"
FROM facts f;

-- insert_outbound_with_jobs --
-- Accepted messages' rows and their "SendQueue" rows in one statement (one round trip for a single
-- send, one for a whole batch), fed from the rows the INSERT returned (a queue row exists only for
-- a stored message); the queue's statement trigger wakes the workers once for all. The arrays
-- travel in binary (the "b" placeholders): quoting a thousand JSON documents into a text array
-- literal costs the API process more than the INSERT costs PostgreSQL.
WITH inserted AS (
    INSERT INTO "MessageLog" ("id", "orgId", "channel", "direction", "status", "from", "to", "content",
                              "segments", "encoding", "metadata", "sendAt")
    SELECT m.id, %(org_id)s, m.channel, 'outbound', m.status, m.sender, m.recipient, m.content,
           m.segments, m.encoding, m.metadata, m.send_at
    FROM unnest(%(ids)b::text[], %(froms)b::text[], %(tos)b::text[], %(contents)b::text[],
                %(segments)b::int[], %(encodings)b::text[], %(metadata)b::jsonb[],
                %(channels)b::text[], %(statuses)b::text[], %(send_ats)b::timestamptz[])
         AS m(id, sender, recipient, content, segments, encoding, metadata, channel, status, send_at)
    RETURNING "id", "sendAt"
), queued AS (
    INSERT INTO "SendQueue" ("messageId", "orgId", "dueAt")
    SELECT "id", %(org_id)s, coalesce("sendAt", now()) FROM inserted
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
-- Newest first; a page continues after (createdAt, id) of the previous page's last row (its cursor).
SELECT * FROM "MessageLog"
WHERE "orgId" = %(org_id)s
  AND (%(status)s::text IS NULL OR "status" = %(status)s)
  AND (%(to)s::text IS NULL OR "to" = %(to)s)
  AND (%(since)s::timestamptz IS NULL OR "createdAt" >= %(since)s)
  AND (%(before)s::timestamptz IS NULL OR ("createdAt", "id") < (%(before)s, %(before_id)s::text))
  AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
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
