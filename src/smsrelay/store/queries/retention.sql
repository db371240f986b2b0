-- Row retention (service/operations/row_retention.py, MESSAGE_RETENTION_DAYS): messages older
-- than the cutoff leave "MessageLog" a small batch per transaction, with what hangs off them.

-- retention_delete_batch --
-- One short transaction per batch, walking ("direction", "createdAt") from the caller's horizon,
-- so a batch never re-reads the dead entries the previous ones left for vacuum. A row someone
-- else holds locked (a late callback) is skipped, not waited for, and reported in first_skipped.
-- Kept past the cutoff: a message still to be acted on (a "SendQueue" row, an open status before
-- Twilio has it) and one whose status events are still being delivered to the org.
-- Its "MessageEvent" rows (Twilio's callbacks) and "WebhookEvent" rows (the events outbox, and
-- through its foreign key the delivery log) go with it. The delete trigger takes the rows out of
-- "MessageRollup"; the hour's history must stay there (the dashboard's and the incident
-- commands' long windows read whole hours from it), so the same counts are put back in the same
-- statement and the fold nets them to nothing. With %(export)s the rows come back as JSON, each
-- with its callbacks, for the caller to write out before it commits.
WITH candidates AS (
    SELECT "id", "createdAt" FROM "MessageLog"
    WHERE "direction" = %(direction)s AND "createdAt" >= %(horizon)s AND "createdAt" < %(cutoff)s
    ORDER BY "createdAt"
    LIMIT %(limit)s
), batch AS (
    SELECT m."id" FROM "MessageLog" m
    WHERE m."id" IN (SELECT "id" FROM candidates)
      AND m."status" NOT IN ('queued', 'sending', 'accepted', 'scheduled')
      AND NOT EXISTS (SELECT 1 FROM "SendQueue" q WHERE q."messageId" = m."id")
      AND NOT EXISTS (SELECT 1 FROM "WebhookEvent" w WHERE w."messageId" = m."id" AND w."state" = 'pending')
    FOR UPDATE SKIP LOCKED
), callbacks AS (
    DELETE FROM "MessageEvent" e USING batch WHERE e."messageId" = batch."id"
    RETURNING e.*
), outbox AS (
    DELETE FROM "WebhookEvent" w USING batch WHERE w."messageId" = batch."id"
    RETURNING w."id"
), gone AS (
    DELETE FROM "MessageLog" m USING batch WHERE m."id" = batch."id"
    RETURNING m.*
), kept_in_rollup AS (
    INSERT INTO "MessageRollupDelta" ("hour", "direction", "orgId", "status", "errorCode", "from", "count", "lastAt")
    SELECT smsrelay_hour(g."createdAt"), g."direction", g."orgId", g."status",
           CASE WHEN g."status" IN ('failed', 'undelivered') THEN coalesce(g."metadata"->>'twilioErrorCode', '') ELSE '' END,
           CASE WHEN g."status" IN ('failed', 'undelivered') THEN coalesce(g."from", '') ELSE '' END,
           count(*), NULL
    FROM gone g GROUP BY 1, 2, 3, 4, 5, 6
    RETURNING 1
), exported AS (
    SELECT g."createdAt", to_jsonb(g) || jsonb_build_object('events', coalesce(c.events, '[]'::jsonb)) AS row
    FROM gone g
    LEFT JOIN (SELECT "messageId", jsonb_agg(to_jsonb(e) - 'messageId' ORDER BY e."id") AS events
               FROM callbacks e GROUP BY 1) c ON c."messageId" = g."id"
    WHERE %(export)s
)
SELECT (SELECT count(*) FROM candidates)::int AS scanned,
       (SELECT count(*) FROM gone)::int AS deleted,
       (SELECT count(*) FROM callbacks)::int AS callbacks,
       (SELECT count(*) FROM outbox)::int AS events,
       (SELECT count(*) FROM kept_in_rollup)::int AS rollup_rows,
       (SELECT max("createdAt") FROM candidates) AS reached,
       (SELECT min(c."createdAt") FROM candidates c WHERE c."id" NOT IN (SELECT "id" FROM batch)) AS first_skipped,
       (SELECT coalesce(jsonb_agg(x.row ORDER BY x."createdAt"), '[]'::jsonb) FROM exported x) AS rows;

-- retention_expired_by_day --
-- What a run would remove (--dry-run, and the progress bar's total), by UTC day of creation:
-- an index-only count of ("direction", "createdAt").
SELECT ("createdAt" AT TIME ZONE 'UTC')::date AS day, count(*)::int AS rows
FROM "MessageLog"
WHERE "direction" IN ('outbound', 'inbound') AND "createdAt" < %(cutoff)s
GROUP BY 1 ORDER BY 1;

-- retention_kept_for_now --
-- Of those, the rows a run keeps for now (still to be sent, status events not yet delivered),
-- found from the small sides: the queue, the pending outbox and the open index.
SELECT count(*)::int AS kept FROM (
    SELECT q."messageId" FROM "SendQueue" q JOIN "MessageLog" m ON m."id" = q."messageId"
    WHERE m."createdAt" < %(cutoff)s
    UNION
    SELECT w."messageId" FROM "WebhookEvent" w JOIN "MessageLog" m ON m."id" = w."messageId"
    WHERE w."state" = 'pending' AND m."createdAt" < %(cutoff)s
    UNION
    SELECT "id" FROM "MessageLog"
    WHERE "direction" = 'outbound' AND "status" IN ('queued', 'sending', 'accepted', 'scheduled')
      AND "createdAt" < %(cutoff)s
) k;

-- retention_orphan_callbacks --
-- Callbacks that never matched a message (a sid we did not send) and test events have no row to
-- leave with. Walked in "id" order (ids grow with time) from the caller's horizon, a batch at a
-- time; once the walk meets a row newer than the cutoff the rest is for a later run.
WITH walked AS (
    SELECT "id", "messageId", "receivedAt" AS at FROM "MessageEvent"
    WHERE "id" > %(horizon)s ORDER BY "id" LIMIT %(limit)s
), gone AS (
    DELETE FROM "MessageEvent" e USING walked w
    WHERE e."id" = w."id" AND w."messageId" IS NULL AND w.at < %(cutoff)s
    RETURNING e."id"
)
SELECT (SELECT count(*) FROM gone)::int AS deleted, (SELECT count(*) FROM walked)::int AS scanned,
       coalesce((SELECT min("id") - 1 FROM walked WHERE at >= %(cutoff)s), (SELECT max("id") FROM walked)) AS reached,
       coalesce((SELECT bool_or(at >= %(cutoff)s) FROM walked), false) AS done;

-- retention_orphan_events --
-- As retention_orphan_callbacks; a test event still being delivered stops the walk there.
WITH walked AS (
    SELECT "id", "messageId", "createdAt" AS at, "state" FROM "WebhookEvent"
    WHERE "id" > %(horizon)s ORDER BY "id" LIMIT %(limit)s
), gone AS (
    DELETE FROM "WebhookEvent" e USING walked w
    WHERE e."id" = w."id" AND w."messageId" IS NULL AND w.at < %(cutoff)s AND w."state" <> 'pending'
    RETURNING e."id"
)
SELECT (SELECT count(*) FROM gone)::int AS deleted, (SELECT count(*) FROM walked)::int AS scanned,
       coalesce((SELECT min("id") - 1 FROM walked WHERE at >= %(cutoff)s OR ("messageId" IS NULL AND "state" = 'pending')),
                (SELECT max("id") FROM walked)) AS reached,
       coalesce((SELECT bool_or(at >= %(cutoff)s OR ("messageId" IS NULL AND "state" = 'pending')) FROM walked), false) AS done;
