-- What the system measures and raises by itself (service/operations: metrics.py, statsd.py,
-- rollup.py, alerts.py, retention.py): counters, the hourly rollup and the windows read through
-- it, gauges, alerts and their notifications, retention.

-- ==== counters and rollup ====

-- counter_totals --
-- Counters kept by the "MessageLog" trigger: folded totals plus deltas not yet folded, read in
-- one statement so a concurrent fold is seen whole or not at all.
SELECT "name", CASE WHEN %(per_org)s THEN "orgId" ELSE '' END AS "orgId", "status", "errorCode", "le",
       sum("count")::bigint AS "count", sum("sum")::float8 AS "sum"
FROM (SELECT "name", "orgId", "status", "errorCode", "le", "count", "sum" FROM "MessageCounter"
      UNION ALL
      SELECT "name", "orgId", "status", "errorCode", "le", "count", "sum" FROM "MessageCounterDelta") c
GROUP BY 1, 2, 3, 4, 5;

-- counter_fold --
-- Moves deltas into the totals; a racing fold blocks on the deleted rows and then skips them.
WITH moved AS (DELETE FROM "MessageCounterDelta" RETURNING *)
INSERT INTO "MessageCounter" ("name", "orgId", "status", "errorCode", "le", "count", "sum")
SELECT "name", "orgId", "status", "errorCode", "le", sum("count"), sum("sum") FROM moved
GROUP BY 1, 2, 3, 4, 5
ON CONFLICT ("name", "orgId", "status", "errorCode", "le") DO UPDATE
SET "count" = "MessageCounter"."count" + excluded."count", "sum" = "MessageCounter"."sum" + excluded."sum";

-- rollup_fold --
-- Same shape as counter_fold; hours whose +1s and -1s cancel out leave no row behind.
WITH moved AS (DELETE FROM "MessageRollupDelta" RETURNING *)
INSERT INTO "MessageRollup" ("hour", "direction", "orgId", "status", "errorCode", "from", "channel", "count", "lastAt")
SELECT "hour", "direction", "orgId", "status", "errorCode", "from", "channel", sum("count"), max("lastAt") FROM moved
GROUP BY 1, 2, 3, 4, 5, 6, 7
HAVING sum("count") <> 0
ON CONFLICT ("hour", "direction", "orgId", "status", "errorCode", "from", "channel") DO UPDATE
SET "count" = "MessageRollup"."count" + excluded."count",
    "lastAt" = greatest("MessageRollup"."lastAt", excluded."lastAt");

-- rollup_prune --
-- Only recent hours, through the primary key: late changes to older hours are rare.
DELETE FROM "MessageRollup" WHERE "hour" >= now() - interval '2 days' AND "count" = 0;

-- window_outcomes --
-- Messages created in (since, until] by org and current status. Whole hours [lo, hi) come from
-- the rollup (plus unfolded deltas), the partial hours at either end from "MessageLog"; the
-- caller computes lo and hi (rollup.py), and lo = hi = until reads it all from "MessageLog".
-- channel: one channel's messages (NULL: every channel), here and in the two windows below.
SELECT "orgId", "status", sum(n)::int AS count FROM (
    SELECT "orgId", "status", count(*) AS n FROM "MessageLog"
    WHERE "direction" = %(direction)s AND "createdAt" > %(since)s AND "createdAt" < %(lo)s
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s) AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
    GROUP BY 1, 2
    UNION ALL
    SELECT "orgId", "status", count(*) FROM "MessageLog"
    WHERE "direction" = %(direction)s AND "createdAt" >= %(hi)s AND "createdAt" <= %(until)s
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s) AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
    GROUP BY 1, 2
    UNION ALL
    SELECT "orgId", "status", sum("count") FROM "MessageRollup"
    WHERE "hour" >= %(lo)s AND "hour" < %(hi)s AND "direction" = %(direction)s
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s) AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
    GROUP BY 1, 2
    UNION ALL
    SELECT "orgId", "status", sum("count") FROM "MessageRollupDelta"
    WHERE "hour" >= %(lo)s AND "hour" < %(hi)s AND "direction" = %(direction)s
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s) AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
    GROUP BY 1, 2
) t
GROUP BY 1, 2
HAVING sum(n) <> 0;

-- window_error_hits --
-- Which codes hit which org and sender number over (since, until], split like window_outcomes;
-- the caller folds rows into codes.
SELECT nullif(code, '') AS code, "orgId", nullif(sender, '') AS "from", "status",
       sum(n)::int AS count, max(last_at) AS last_at FROM (
    SELECT coalesce("metadata"->>'twilioErrorCode', '') AS code, "orgId", coalesce("from", '') AS sender, "status",
           count(*) AS n, max("createdAt") AS last_at
    FROM "MessageLog"
    WHERE "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
      AND "createdAt" > %(since)s AND "createdAt" < %(lo)s AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT coalesce("metadata"->>'twilioErrorCode', ''), "orgId", coalesce("from", ''), "status",
           count(*), max("createdAt")
    FROM "MessageLog"
    WHERE "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
      AND "createdAt" >= %(hi)s AND "createdAt" <= %(until)s AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT "errorCode", "orgId", "from", "status", sum("count"), max("lastAt") FROM "MessageRollup"
    WHERE "hour" >= %(lo)s AND "hour" < %(hi)s AND "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
      AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT "errorCode", "orgId", "from", "status", sum("count"), max("lastAt") FROM "MessageRollupDelta"
    WHERE "hour" >= %(lo)s AND "hour" < %(hi)s AND "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
      AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
    GROUP BY 1, 2, 3, 4
) t
GROUP BY 1, 2, 3, 4
HAVING sum(n) > 0
ORDER BY count DESC
LIMIT 2000;

-- window_series --
-- Both directions per bucket and status over (since, until], split like window_outcomes; the
-- bucket is a whole number of hours whenever lo < hi, so each rollup hour falls in one bucket.
SELECT date_bin(%(bucket)s::interval, at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS at,
       "direction", "status", sum(n)::int AS count FROM (
    SELECT "createdAt" AS at, "direction", "status", 1 AS n FROM "MessageLog"
    WHERE "direction" IN ('outbound', 'inbound') AND "createdAt" > %(since)s AND "createdAt" < %(lo)s
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s) AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
    UNION ALL
    SELECT "createdAt", "direction", "status", 1 FROM "MessageLog"
    WHERE "direction" IN ('outbound', 'inbound') AND "createdAt" >= %(hi)s AND "createdAt" <= %(until)s
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s) AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
    UNION ALL
    SELECT "hour", "direction", "status", "count" FROM "MessageRollup"
    WHERE "hour" >= %(lo)s AND "hour" < %(hi)s AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
      AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
    UNION ALL
    SELECT "hour", "direction", "status", "count" FROM "MessageRollupDelta"
    WHERE "hour" >= %(lo)s AND "hour" < %(hi)s AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
      AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
) t
GROUP BY 1, 2, 3
HAVING sum(n) <> 0;

-- ==== gauges ====

-- open_outbound --
-- Messages not yet final, through the partial open-status index. stage: held (a guard holds
-- it), ours (waiting for a worker), twilio (in Twilio's queue), sent (awaiting the carrier).
SELECT CASE WHEN jsonb_typeof("metadata"->'hold') = 'object' THEN 'held'
            -- Held by us until its sendAt: not waiting, so no queue age (service/outbound/scheduling.py).
            WHEN "status" = 'scheduled' THEN 'scheduled'
            WHEN "status" = 'sent' THEN 'sent'
            WHEN "twilioSid" IS NULL THEN 'ours'
            ELSE 'twilio' END AS "stage",
       coalesce("metadata"->'hold'->>'reason', '') AS "reason",
       count(*)::bigint AS "count",
       greatest(0, extract(epoch FROM now() - min(coalesce("sendAt", "createdAt"))))::float8 AS "oldestAge"
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('queued', 'sending', 'accepted', 'scheduled', 'sent')
GROUP BY 1, 2;

-- job_queue_depth --
-- Sends from "SendQueue" (a lease not yet run out is 'doing'; one that ran out is due again),
-- forwards from procrastinate; 'scheduled' are retries and throttled sends waiting for their time.
-- "oldestAge": since the oldest of them was enqueued ("SendQueue" only; a forward's age is its
-- message's).
SELECT 'sms' AS "queue",
       CASE WHEN "dueAt" <= now() THEN 'todo' WHEN "leaseOwner" IS NOT NULL THEN 'doing' ELSE 'scheduled' END AS "status",
       count(*)::bigint AS "count", extract(epoch FROM now() - min("enqueuedAt"))::float8 AS "oldestAge"
FROM "SendQueue"
GROUP BY 1, 2
UNION ALL
SELECT queue_name,
       CASE WHEN status = 'todo' AND scheduled_at > now() THEN 'scheduled' ELSE status::text END,
       count(*)::bigint, NULL
FROM procrastinate_jobs
WHERE status IN ('todo', 'doing') AND queue_name = 'webhooks'
GROUP BY 1, 2;

-- worker_heartbeats --
-- The send loops' heartbeats; a killed worker's row stays (frozen) until it is a day old.
SELECT "id" AS "workerId", extract(epoch FROM now() - "heartbeatAt")::float8 AS "age" FROM "SendWorker";

-- mitigation_state --
SELECT 'org_disabled' AS "kind", s."orgId", s."updatedAt" AS "since" FROM "OrgSettings" s WHERE s."smsDisabled"
UNION ALL
SELECT 'paused', NULL, g."updatedAt" FROM "SystemSetting" g
WHERE g."key" = 'sms_paused' AND coalesce((g."value"->>'paused')::boolean, false);

-- ==== alerts ====

-- alert_outbound_window --
-- Outbound by org, channel and status over messages created within the window, on (direction,
-- createdAt); SMS feeds the runbook's rules, the other channels their own.
-- "retried": an operator's retry (metadata.retriedBy) carries on this message's lineage, so its
-- outcome, not this one's, is what the delivery rate counts.
SELECT "orgId", "channel", "status", "metadata" ? 'retriedBy' AS "retried", count(*)::bigint AS "count",
       count(*) FILTER (WHERE "createdAt" > now() - make_interval(secs => %(short_seconds)s))::bigint AS "shortCount"
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "createdAt" > now() - make_interval(secs => %(long_seconds)s)
GROUP BY 1, 2, 3, 4;

-- alert_flat_facts --
-- "sentAt" is not indexed: look at messages created up to an hour before the window (a held
-- message can be sent long after it was created) and keep those sent within it.
SELECT now() AS "now",
  (SELECT count(*) FROM "MessageLog" WHERE "direction" = 'inbound'
     AND "createdAt" > now() - make_interval(secs => %(window_seconds)s))::bigint AS "inbound",
  (SELECT count(*) FROM "MessageLog" WHERE "direction" = 'inbound'
     AND "createdAt" > now() - make_interval(secs => %(recent_seconds)s))::bigint AS "inboundRecent",
  (SELECT count(*) FROM "MessageLog" WHERE "direction" = 'outbound'
     AND "createdAt" > now() - make_interval(secs => %(window_seconds)s) - interval '1 hour'
     AND "sentAt" > now() - make_interval(secs => %(window_seconds)s))::bigint AS "sent";

-- alert_fire --
-- Racing evaluators insert the same key; the partial unique index makes the loser update.
INSERT INTO "Alert" ("key", "rule", "orgId", "severity", "title", "summary", "details")
VALUES (%(key)s, %(rule)s, %(org_id)s, %(severity)s, %(title)s, %(summary)s, %(details)s)
ON CONFLICT ("key") WHERE "state" = 'firing' DO UPDATE
SET "lastSeenAt" = now(), "summary" = excluded."summary", "details" = excluded."details", "severity" = excluded."severity"
RETURNING *;

-- alert_firing --
SELECT * FROM "Alert" WHERE "state" = 'firing' ORDER BY "firedAt";

-- alert_resolve --
UPDATE "Alert" SET "state" = 'resolved', "resolvedAt" = now()
WHERE "state" = 'firing' AND "key" = ANY(%(keys)s)
RETURNING *;

-- alert_claim_pending --
-- Whoever inserts the (alert, channel, event) row sends it: exactly one sender per notification.
INSERT INTO "AlertNotification" ("alertId", "channel", "event")
SELECT a."id", c.channel, CASE WHEN a."state" = 'firing' THEN 'firing' ELSE 'resolved' END
FROM "Alert" a CROSS JOIN unnest(%(channels)s::text[]) AS c(channel)
WHERE a."state" = 'firing' OR a."resolvedAt" > now() - interval '1 hour'
ON CONFLICT DO NOTHING
RETURNING "alertId", "channel", "event";

-- alert_reclaim_failed --
-- A send that failed (or whose sender died) is retried after a pause, a bounded number of times.
UPDATE "AlertNotification" SET "claimedAt" = now(), "attempts" = "attempts" + 1
WHERE "sentAt" IS NULL AND "claimedAt" < now() - make_interval(secs => %(after_seconds)s)
  AND "attempts" < %(max_attempts)s
RETURNING "alertId", "channel", "event";

-- alert_notification_sent --
UPDATE "AlertNotification" SET "sentAt" = now(), "lastError" = NULL
WHERE "alertId" = %(alert_id)s AND "channel" = %(channel)s AND "event" = %(event)s;

-- alert_notification_failed --
UPDATE "AlertNotification" SET "lastError" = %(error)s
WHERE "alertId" = %(alert_id)s AND "channel" = %(channel)s AND "event" = %(event)s;

-- alert_by_ids --
SELECT * FROM "Alert" WHERE "id" = ANY(%(ids)s);

-- alert_list --
SELECT a.*,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('channel', n."channel", 'event', n."event",
                'sentAt', n."sentAt", 'attempts', n."attempts", 'lastError', n."lastError")
                ORDER BY n."claimedAt"), '[]'::jsonb)
        FROM "AlertNotification" n WHERE n."alertId" = a."id") AS "notifications"
FROM "Alert" a
WHERE (%(state)s::text IS NULL OR a."state" = %(state)s)
ORDER BY a."firedAt" DESC, a."id" DESC
LIMIT %(limit)s;

-- alert_firing_counts --
SELECT "rule", count(*)::bigint AS "count" FROM "Alert" WHERE "state" = 'firing' GROUP BY 1;

-- ==== retention ====

-- forget_old_counters --
DELETE FROM "RateCounter" WHERE "window" < now() - interval '2 days';

-- purge_content_batch --
-- As purge_content, and says where a row locked by someone else (a callback, a worker) was
-- skipped: the caller's horizon must stop there, or that row would keep its content until the
-- horizon (kept in the scheduler's memory) is reset by a restart.
WITH candidates AS (
    SELECT "id", "createdAt" FROM "MessageLog"
    WHERE "direction" = %(direction)s
      AND "createdAt" >= %(horizon)s AND "createdAt" < %(cutoff)s
    ORDER BY "createdAt"
    LIMIT %(limit)s
), batch AS (
    SELECT m."id" FROM "MessageLog" m
    WHERE m."id" IN (SELECT "id" FROM candidates)
    FOR UPDATE SKIP LOCKED
), purged AS (
    UPDATE "MessageLog" m SET "content" = NULL,
        "metadata" = m."metadata" || jsonb_build_object('contentPurgedAt', now())
    FROM batch WHERE m."id" = batch."id" AND m."content" IS NOT NULL
    RETURNING m."id"
)
SELECT (SELECT count(*) FROM purged) AS purged, (SELECT count(*) FROM candidates) AS scanned,
       (SELECT max("createdAt") FROM candidates) AS reached,
       (SELECT min(c."createdAt") FROM candidates c WHERE c."id" NOT IN (SELECT "id" FROM batch)) AS first_skipped;

-- purge_event_payloads --
-- Twilio's callback parameters (numbers, sids) go with the content; the event row stays for
-- the message's history and for de-duplicating callbacks.
WITH batch AS (
    SELECT "id" FROM "MessageEvent"
    WHERE "receivedAt" < %(cutoff)s AND "payload" <> '{}'::jsonb
    ORDER BY "receivedAt"
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE "MessageEvent" e SET "payload" = '{}'::jsonb FROM batch WHERE e."id" = batch."id";

-- purge_idempotency_keys --
-- A stored answer holds the message it created; past retention the key is forgotten and a
-- request reusing it is a new request.
WITH batch AS (
    SELECT "orgId", "key" FROM "IdempotencyKey"
    WHERE "createdAt" < %(cutoff)s
    ORDER BY "createdAt"
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM "IdempotencyKey" k USING batch WHERE k."orgId" = batch."orgId" AND k."key" = batch."key";

-- database_now --
-- The database's clock: windows over "createdAt" (stamped by it) are measured against the same clock.
SELECT now() AS now;
