-- set_actor --
-- Names who makes the following writes in this transaction, for the audit trigger.
SELECT set_config('smsrelay.actor', %(actor)s, true), set_config('smsrelay.reason', coalesce(%(reason)s, ''), true);

-- insert_org --
INSERT INTO "Org" ("id", "name") VALUES (%(id)s, %(name)s) RETURNING *;

-- insert_org_settings --
INSERT INTO "OrgSettings" ("orgId", "defaultRegion", "inboundWebhookUrl", "inboundWebhookSecret", "helpText")
VALUES (%(org_id)s, %(default_region)s, %(inbound_webhook_url)s, %(inbound_webhook_secret)s, %(help_text)s)
RETURNING *;

-- insert_phone_number --
INSERT INTO "PhoneNumber" ("id", "orgId", "number", "messagingServiceSid", "kind")
VALUES (%(id)s, %(org_id)s, %(number)s, %(messaging_service_sid)s, %(kind)s)
RETURNING *;

-- insert_api_key --
INSERT INTO "ApiKey" ("id", "orgId", "keyHash", "prefix", "name")
VALUES (%(id)s, %(org_id)s, %(key_hash)s, %(prefix)s, %(name)s)
RETURNING "id", "orgId", "prefix", "name", "createdAt";

-- authenticate_and_count --
-- The key (unknown or revoked: no row) and this request counted against its minute, in one
-- round trip: every API request pays it.
WITH k AS (
    SELECT "id", "orgId" FROM "ApiKey" WHERE "keyHash" = %(key_hash)s AND "revokedAt" IS NULL
), counted AS (
    INSERT INTO "RateCounter" ("key", "window", "count")
    SELECT 'api:' || k."id", %(window)s, 1 FROM k
    ON CONFLICT ("key", "window") DO UPDATE SET "count" = "RateCounter"."count" + 1
    RETURNING "count"
)
SELECT k."id", k."orgId", counted."count" FROM k, counted;

-- revoke_api_key --
UPDATE "ApiKey" SET "revokedAt" = now() WHERE "id" = %(id)s AND "revokedAt" IS NULL;

-- get_org --
SELECT o.*, s."smsDisabled", s."maxMessagesPerMinute", s."defaultRegion", s."inboundWebhookUrl",
       s."inboundWebhookSecret", s."helpText", s."contentPolicy", s."landlinePolicy",
       s."allowedCountries", s."validityPeriodSeconds", s."dailySendCap"
FROM "Org" o JOIN "OrgSettings" s ON s."orgId" = o."id"
WHERE o."id" = %(org_id)s;

-- org_for_send --
-- get_org plus its senders (as org_senders orders them), in one round trip for the send path.
SELECT o.*, s."smsDisabled", s."maxMessagesPerMinute", s."defaultRegion", s."inboundWebhookUrl",
       s."inboundWebhookSecret", s."helpText", s."contentPolicy", s."landlinePolicy",
       s."allowedCountries", s."validityPeriodSeconds", s."dailySendCap",
       (SELECT coalesce(jsonb_agg(jsonb_build_object('number', p."number", 'messagingServiceSid',
                                                     p."messagingServiceSid", 'kind', p."kind")
                                  ORDER BY p."isDefault" DESC, p."createdAt"), '[]'::jsonb)
        FROM "PhoneNumber" p WHERE p."orgId" = o."id") AS senders
FROM "Org" o JOIN "OrgSettings" s ON s."orgId" = o."id"
WHERE o."id" = %(org_id)s;

-- list_orgs --
SELECT o."id", o."name", o."createdAt", s."smsDisabled", s."maxMessagesPerMinute"
FROM "Org" o JOIN "OrgSettings" s ON s."orgId" = o."id"
ORDER BY o."createdAt";

-- org_senders --
SELECT "number", "messagingServiceSid", "kind" FROM "PhoneNumber"
WHERE "orgId" = %(org_id)s
ORDER BY "isDefault" DESC, "createdAt";

-- org_by_number --
SELECT p."orgId", p."number" FROM "PhoneNumber" p WHERE p."number" = %(number)s;

-- insert_inbound --
INSERT INTO "MessageLog" ("id", "orgId", "channel", "direction", "status", "from", "to", "content",
                          "segments", "encoding", "twilioSid", "metadata")
VALUES (%(id)s, %(org_id)s, 'sms', 'inbound', 'received', %(from_)s, %(to)s, %(content)s,
        %(segments)s, %(encoding)s, %(twilio_sid)s, %(metadata)s)
ON CONFLICT ("twilioSid") DO NOTHING
RETURNING *;

-- get_idempotency --
SELECT * FROM "IdempotencyKey" WHERE "orgId" = %(org_id)s AND "key" = %(key)s;

-- insert_idempotency --
-- A concurrent request with the same key loses the race here and replays the winner's answer.
INSERT INTO "IdempotencyKey" ("orgId", "key", "requestHash", "responseStatus", "responseBody")
VALUES (%(org_id)s, %(key)s, %(request_hash)s, %(response_status)s, %(response_body)s)
ON CONFLICT DO NOTHING
RETURNING "orgId";

-- get_message --
SELECT * FROM "MessageLog" WHERE "id" = %(id)s AND "orgId" = %(org_id)s;

-- get_message_any_org --
SELECT * FROM "MessageLog" WHERE "id" = %(id)s;

-- lock_message --
SELECT * FROM "MessageLog" WHERE "id" = %(id)s FOR UPDATE;

-- lock_message_by_sid --
SELECT * FROM "MessageLog" WHERE "twilioSid" = %(sid)s FOR UPDATE;

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

-- merge_metadata --
UPDATE "MessageLog" SET "metadata" = "metadata" || %(metadata)s, "updatedAt" = now()
WHERE "id" = %(id)s;

-- insert_event --
-- A retried or duplicated callback is the same event: stored once, applied once.
INSERT INTO "MessageEvent" ("messageId", "twilioSid", "status", "errorCode", "idempotencyToken", "payload")
VALUES (%(message_id)s, %(sid)s, %(status)s, %(error_code)s, %(token)s, %(payload)s)
ON CONFLICT DO NOTHING
RETURNING "id";

-- enqueue_job --
-- procrastinate's own defer function, called on our connection so the job commits (or not)
-- together with the "MessageLog" row.
-- The lock (the message id for sends) keeps two jobs of one message from ever running at once.
SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(
    %(queue)s, %(task)s, 0, %(lock)s, NULL, %(args)s, %(scheduled_at)s
)]::procrastinate_job_to_defer_v1[])) AS id;

-- sid_taken --
SELECT 1 AS taken FROM "MessageLog" WHERE "twilioSid" = %(sid)s;

-- is_opted_out --
SELECT 1 AS opted_out FROM "OptOut" WHERE "orgId" = %(org_id)s AND "phone" = %(phone)s;

-- insert_opt_out --
INSERT INTO "OptOut" ("orgId", "phone", "source") VALUES (%(org_id)s, %(phone)s, %(source)s)
ON CONFLICT DO NOTHING;

-- delete_opt_out --
DELETE FROM "OptOut" WHERE "orgId" = %(org_id)s AND "phone" = %(phone)s;

-- get_system_setting --
SELECT "value" FROM "SystemSetting" WHERE "key" = %(key)s;

-- put_system_setting --
INSERT INTO "SystemSetting" ("key", "value") VALUES (%(key)s, %(value)s)
ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value", "updatedAt" = now();

-- insert_audit --
INSERT INTO "AuditLog" ("tableName", "orgId", "action", "actor", "reason", "before", "after")
VALUES (%(table_name)s, %(org_id)s, %(action)s, %(actor)s, %(reason)s, %(before)s, %(after)s);

-- try_lock --
-- One holder at a time across processes and machines for a periodic duty.
SELECT pg_try_advisory_xact_lock(%(key)s) AS locked;

-- releasable_messages --
-- Held messages whose guard has lifted, plus any held past its validity (the job expires it),
-- oldest first. Per org through "MessageLog_held_idx" with one range on "createdAt" (everything
-- for a released org, only the expired for a disabled one), so a million held for a disabled
-- org cost one index probe, not a scan. A rate of 0 per minute holds like a disable.
SELECT h."id" FROM "OrgSettings" s
CROSS JOIN LATERAL (
    SELECT m."id", m."createdAt" FROM "MessageLog" m
    WHERE m."orgId" = s."orgId" AND m."direction" = 'outbound' AND m."status" = 'queued'
      AND jsonb_typeof(m."metadata"->'hold') = 'object' AND m."twilioSid" IS NULL
      AND m."createdAt" < CASE WHEN NOT s."smsDisabled" AND coalesce(s."maxMessagesPerMinute", 1) > 0
                               THEN 'infinity'::timestamptz
                               ELSE now() - make_interval(secs => s."validityPeriodSeconds") END
    ORDER BY m."createdAt", m."id"
    LIMIT %(limit)s
    FOR UPDATE OF m SKIP LOCKED
) h
ORDER BY h."createdAt", h."id"
LIMIT %(limit)s;

-- stale_open_messages --
-- Sent to Twilio but with no final status after a while: callbacks can be lost.
SELECT "id", "twilioSid", "status" FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('queued', 'sending', 'accepted', 'scheduled', 'sent')
  AND "twilioSid" IS NOT NULL AND "createdAt" < now() - make_interval(secs => %(older_than)s)
  AND "createdAt" > now() - interval '3 days'
ORDER BY "createdAt"
LIMIT %(limit)s;

-- ==== observability ====

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
INSERT INTO "MessageRollup" ("hour", "direction", "orgId", "status", "errorCode", "from", "count", "lastAt")
SELECT "hour", "direction", "orgId", "status", "errorCode", "from", sum("count"), max("lastAt") FROM moved
GROUP BY 1, 2, 3, 4, 5, 6
HAVING sum("count") <> 0
ON CONFLICT ("hour", "direction", "orgId", "status", "errorCode", "from") DO UPDATE
SET "count" = "MessageRollup"."count" + excluded."count",
    "lastAt" = greatest("MessageRollup"."lastAt", excluded."lastAt");

-- rollup_prune --
-- Only recent hours, through the primary key: late changes to older hours are rare.
DELETE FROM "MessageRollup" WHERE "hour" >= now() - interval '2 days' AND "count" = 0;

-- window_outcomes --
-- Messages created in (since, until] by org and current status. Whole hours [lo, hi) come from
-- the rollup (plus unfolded deltas), the partial hours at either end from "MessageLog"; the
-- caller computes lo and hi (rollup.py), and lo = hi = until reads it all from "MessageLog".
SELECT "orgId", "status", sum(n)::int AS count FROM (
    SELECT "orgId", "status", count(*) AS n FROM "MessageLog"
    WHERE "direction" = %(direction)s AND "createdAt" > %(since)s AND "createdAt" < %(lo)s
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
    GROUP BY 1, 2
    UNION ALL
    SELECT "orgId", "status", count(*) FROM "MessageLog"
    WHERE "direction" = %(direction)s AND "createdAt" >= %(hi)s AND "createdAt" <= %(until)s
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
    GROUP BY 1, 2
    UNION ALL
    SELECT "orgId", "status", sum("count") FROM "MessageRollup"
    WHERE "hour" >= %(lo)s AND "hour" < %(hi)s AND "direction" = %(direction)s
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
    GROUP BY 1, 2
    UNION ALL
    SELECT "orgId", "status", sum("count") FROM "MessageRollupDelta"
    WHERE "hour" >= %(lo)s AND "hour" < %(hi)s AND "direction" = %(direction)s
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
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
      AND "createdAt" > %(since)s AND "createdAt" < %(lo)s
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT coalesce("metadata"->>'twilioErrorCode', ''), "orgId", coalesce("from", ''), "status",
           count(*), max("createdAt")
    FROM "MessageLog"
    WHERE "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
      AND "createdAt" >= %(hi)s AND "createdAt" <= %(until)s
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT "errorCode", "orgId", "from", "status", sum("count"), max("lastAt") FROM "MessageRollup"
    WHERE "hour" >= %(lo)s AND "hour" < %(hi)s AND "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
    GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT "errorCode", "orgId", "from", "status", sum("count"), max("lastAt") FROM "MessageRollupDelta"
    WHERE "hour" >= %(lo)s AND "hour" < %(hi)s AND "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
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
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
    UNION ALL
    SELECT "createdAt", "direction", "status", 1 FROM "MessageLog"
    WHERE "direction" IN ('outbound', 'inbound') AND "createdAt" >= %(hi)s AND "createdAt" <= %(until)s
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
    UNION ALL
    SELECT "hour", "direction", "status", "count" FROM "MessageRollup"
    WHERE "hour" >= %(lo)s AND "hour" < %(hi)s AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
    UNION ALL
    SELECT "hour", "direction", "status", "count" FROM "MessageRollupDelta"
    WHERE "hour" >= %(lo)s AND "hour" < %(hi)s AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
) t
GROUP BY 1, 2, 3
HAVING sum(n) <> 0;

-- open_outbound --
-- Messages not yet final, through the partial open-status index. stage: held (a guard holds
-- it), ours (waiting for a worker), twilio (in Twilio's queue), sent (awaiting the carrier).
SELECT CASE WHEN jsonb_typeof("metadata"->'hold') = 'object' THEN 'held'
            WHEN "status" = 'sent' THEN 'sent'
            WHEN "twilioSid" IS NULL THEN 'ours'
            ELSE 'twilio' END AS "stage",
       coalesce("metadata"->'hold'->>'reason', '') AS "reason",
       count(*)::bigint AS "count",
       extract(epoch FROM now() - min("createdAt"))::float8 AS "oldestAge"
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('queued', 'sending', 'accepted', 'scheduled', 'sent')
GROUP BY 1, 2;

-- job_queue_depth --
-- procrastinate keeps no creation time, so job age comes from "MessageLog" instead; 'scheduled'
-- are retries waiting for their backoff.
SELECT queue_name AS "queue",
       CASE WHEN status = 'todo' AND scheduled_at > now() THEN 'scheduled' ELSE status::text END AS "status",
       count(*)::bigint AS "count"
FROM procrastinate_jobs
WHERE status IN ('todo', 'doing')
GROUP BY 1, 2;

-- worker_heartbeats --
SELECT id AS "workerId", extract(epoch FROM now() - last_heartbeat)::float8 AS "age" FROM procrastinate_workers;

-- mitigation_state --
SELECT 'org_disabled' AS "kind", s."orgId", s."updatedAt" AS "since" FROM "OrgSettings" s WHERE s."smsDisabled"
UNION ALL
SELECT 'paused', NULL, g."updatedAt" FROM "SystemSetting" g
WHERE g."key" = 'sms_paused' AND coalesce((g."value"->>'paused')::boolean, false);

-- alert_outbound_window --
-- Outbound by org and status over messages created within the window, on (direction, createdAt).
SELECT "orgId", "status", count(*)::bigint AS "count",
       count(*) FILTER (WHERE "createdAt" > now() - make_interval(secs => %(short_seconds)s))::bigint AS "shortCount"
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "createdAt" > now() - make_interval(secs => %(long_seconds)s)
GROUP BY 1, 2;

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

-- ==== incident toolkit ====
-- Every window query filters "direction" and a "createdAt" range first, so it is a range scan
-- of ("direction", "createdAt") or ("direction", "status", "createdAt"); queries over messages
-- not yet final repeat the partial index's predicate so the planner can use "MessageLog_open_idx".

-- incident_now --
SELECT now() AS now;

-- incident_failures --
SELECT "id", "orgId", "channel", "status", "from", "to",
       "metadata"->>'twilioErrorCode' AS error_code,
       "metadata"->>'twilioErrorMessage' AS error_message,
       "createdAt"
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
  AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
  AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
  AND (%(code)s::text IS NULL OR "metadata"->>'twilioErrorCode' = %(code)s)
ORDER BY "createdAt" DESC
LIMIT %(limit)s;

-- incident_error_codes --
SELECT "metadata"->>'twilioErrorCode' AS code, count(*)::int AS count,
       count(DISTINCT "orgId")::int AS orgs, min("createdAt") AS first_at, max("createdAt") AS last_at
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
  AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
  AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
GROUP BY 1
ORDER BY count DESC;

-- incident_retrying_codes --
-- The last error of messages still being retried: a rate limit or an outage shows here first.
SELECT coalesce("metadata"->'lastError'->>'code', 'HTTP ' || ("metadata"->'lastError'->>'httpStatus'), 'network') AS code,
       count(*)::int AS count, count(DISTINCT "orgId")::int AS orgs,
       min("createdAt") AS first_at, max("createdAt") AS last_at
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('queued', 'sending', 'accepted', 'scheduled', 'sent')
  AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
  AND jsonb_typeof("metadata"->'lastError') = 'object'
  AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
GROUP BY 1
ORDER BY count DESC;

-- org_exists --
SELECT "id" FROM "Org" WHERE "id" = %(org_id)s;

-- diagnose_traffic --
SELECT "orgId", "from", count(*)::int AS total,
       (count(*) FILTER (WHERE "status" IN ('failed', 'undelivered')))::int AS failed,
       (count(*) FILTER (WHERE "status" = 'delivered'))::int AS delivered
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
GROUP BY 1, 2;

-- diagnose_failures --
SELECT "metadata"->>'twilioErrorCode' AS code, "orgId", "from", "metadata"->>'country' AS country,
       count(*)::int AS count
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
  AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
GROUP BY 1, 2, 3, 4;

-- diagnose_transient --
SELECT "metadata"->'lastError'->>'code' AS code, ("metadata"->'lastError'->>'httpStatus')::int AS http_status,
       "orgId", "from", "metadata"->>'country' AS country, count(*)::int AS count
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('queued', 'sending', 'accepted', 'scheduled', 'sent')
  AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
  AND jsonb_typeof("metadata"->'lastError') = 'object'
GROUP BY 1, 2, 3, 4, 5;

-- diagnose_queue --
-- Bounded to 3 days: older open messages are the reconciler's business, not a live queue.
SELECT (count(*) FILTER (WHERE "status" = 'queued' AND "twilioSid" IS NULL))::int AS queued_unsent,
       extract(epoch FROM now() - min("createdAt") FILTER (WHERE "status" = 'queued' AND "twilioSid" IS NULL))::float AS oldest_queued_age_s,
       (count(*) FILTER (WHERE "status" = 'queued' AND "twilioSid" IS NULL
                           AND jsonb_typeof("metadata"->'lastError') IS DISTINCT FROM 'object'
                           AND jsonb_typeof("metadata"->'hold') IS DISTINCT FROM 'object'
                           AND coalesce(("metadata"->>'attempts')::int, 0) = 0
                           AND "createdAt" < now() - make_interval(secs => %(stuck_after)s)))::int AS stuck_unsent
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('queued', 'sending', 'accepted', 'scheduled', 'sent')
  AND "createdAt" > now() - interval '3 days';

-- diagnose_held --
-- Only held rows are in "MessageLog_held_idx" (a hold is set on a queued message, never sent).
SELECT "metadata"->'hold'->>'reason' AS reason, "orgId", count(*)::int AS count
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" = 'queued' AND jsonb_typeof("metadata"->'hold') = 'object'
GROUP BY 1, 2;

-- diagnose_jobs --
SELECT (count(*) FILTER (WHERE "status" = 'todo' AND ("scheduled_at" IS NULL OR "scheduled_at" <= now())))::int AS todo,
       (count(*) FILTER (WHERE "status" = 'doing'))::int AS doing
FROM procrastinate_jobs
WHERE "status" IN ('todo', 'doing') AND "queue_name" = %(queue)s;

-- diagnose_workers --
SELECT (count(*) FILTER (WHERE last_heartbeat > now() - make_interval(secs => %(alive_within)s)))::int AS alive,
       count(*)::int AS registered,
       extract(epoch FROM now() - max(last_heartbeat))::float AS last_heartbeat_age_s
FROM procrastinate_workers;

-- diagnose_flow --
-- Since the oldest outbound message still waiting for its first attempt: has anything created
-- after it been handed to Twilio, while inbound kept arriving? (Both on direction, createdAt.)
WITH recent AS (
    SELECT "direction", "status", "twilioSid", "createdAt", "metadata" FROM "MessageLog"
    WHERE "direction" IN ('inbound', 'outbound') AND "createdAt" > now() - make_interval(mins => %(minutes)s)
), waiting AS (
    SELECT min("createdAt") AS oldest FROM recent
    WHERE "direction" = 'outbound' AND "status" = 'queued' AND "twilioSid" IS NULL
      AND jsonb_typeof("metadata"->'hold') IS DISTINCT FROM 'object'
      AND jsonb_typeof("metadata"->'lastError') IS DISTINCT FROM 'object'
)
SELECT (count(*) FILTER (WHERE r."direction" = 'inbound'))::int AS inbound,
       (count(*) FILTER (WHERE r."direction" = 'outbound'))::int AS outbound,
       (count(*) FILTER (WHERE r."direction" = 'outbound' AND r."twilioSid" IS NOT NULL))::int AS handed
FROM recent r, waiting w
WHERE r."createdAt" >= w.oldest;

-- diagnose_mitigations --
SELECT "orgId", "smsDisabled", "maxMessagesPerMinute" FROM "OrgSettings"
WHERE "smsDisabled" OR "maxMessagesPerMinute" IS NOT NULL
ORDER BY "orgId"
LIMIT 500;

-- mitigate_org_disabled --
-- The audit trigger records it; the caller has named the actor with set_actor.
UPDATE "OrgSettings" SET "smsDisabled" = %(disabled)s WHERE "orgId" = %(org_id)s
RETURNING "orgId", "smsDisabled", "maxMessagesPerMinute";

-- mitigate_org_rate --
UPDATE "OrgSettings" SET "maxMessagesPerMinute" = %(per_minute)s WHERE "orgId" = %(org_id)s
RETURNING "orgId", "smsDisabled", "maxMessagesPerMinute";

-- retry_candidates --
SELECT "id", "orgId", "from", "to", "status", "createdAt",
       "metadata"->>'twilioErrorCode' AS code,
       coalesce(("metadata"->>'retryGeneration')::int, 0) AS generation
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
  AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
  AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
  AND "metadata"->>'twilioErrorCode' = ANY(%(codes)s)
  AND NOT ("metadata" ? 'retriedBy')
ORDER BY "createdAt", "id"
LIMIT %(limit)s;

-- retry_lock_original --
-- Re-checked under the row lock: two concurrent retry runs cannot both re-send one message.
SELECT "id" FROM "MessageLog"
WHERE "id" = %(id)s AND "status" IN ('failed', 'undelivered') AND NOT ("metadata" ? 'retriedBy')
FOR UPDATE;

-- retry_insert --
INSERT INTO "MessageLog" ("id", "orgId", "channel", "direction", "status", "from", "to", "content",
                          "segments", "encoding", "metadata")
SELECT %(new_id)s, "orgId", "channel", 'outbound', 'queued', "from", "to", "content", "segments", "encoding",
       jsonb_strip_nulls(jsonb_build_object('country', "metadata"->'country',
                                            'messagingServiceSid', "metadata"->'messagingServiceSid'))
       || %(metadata)s
FROM "MessageLog" WHERE "id" = %(id)s
RETURNING "id";

-- report_buckets --
SELECT date_bin('5 minutes', "createdAt", %(since)s) AS bucket, count(*)::int AS total,
       (count(*) FILTER (WHERE "status" IN ('failed', 'undelivered')))::int AS failed
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
GROUP BY 1
ORDER BY 1;

-- report_audit --
SELECT "createdAt", "tableName", "orgId", "action", "actor", "reason", "before", "after"
FROM "AuditLog"
WHERE "createdAt" > %(since)s AND "createdAt" <= %(until)s
ORDER BY "createdAt", "id"
LIMIT 500;

-- report_alert_table --
SELECT to_regclass('"Alert"') IS NOT NULL AS present;

-- report_alerts --
-- Alerts that were firing at any moment of the window.
SELECT "rule", "orgId", "severity", "title", "state", "firedAt", "resolvedAt" FROM "Alert"
WHERE "firedAt" <= %(until)s AND ("resolvedAt" IS NULL OR "resolvedAt" > %(since)s)
ORDER BY "firedAt", "id"
LIMIT 200;

-- dash_now --
SELECT now() AS now;

-- dash_flow --
-- The runbook's first symptom: outbound handed to Twilio flat while inbound keeps arriving.
SELECT (count(*) FILTER (WHERE "direction" = 'inbound'))::int AS inbound,
       (count(*) FILTER (WHERE "direction" = 'outbound'))::int AS outbound,
       (count(*) FILTER (WHERE "direction" = 'outbound' AND "twilioSid" IS NOT NULL))::int AS handed
FROM "MessageLog"
WHERE "direction" IN ('inbound', 'outbound') AND "createdAt" > now() - make_interval(secs => %(seconds)s);

-- dash_held --
-- Held messages by guard, through "MessageLog_held_idx", which holds only them.
SELECT coalesce("metadata"->'hold'->>'reason', '?') AS reason, count(*)::int AS count,
       min("createdAt") AS oldest
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" = 'queued' AND jsonb_typeof("metadata"->'hold') = 'object'
GROUP BY 1
ORDER BY count DESC;

-- dash_recent_failures --
-- Runbook step 2.
SELECT "id", "orgId", "status", "from", "to", "metadata"->>'twilioErrorCode' AS error_code,
       "metadata"->>'twilioErrorMessage' AS error_message, "createdAt"
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
  AND "createdAt" >= %(since)s AND "createdAt" < %(until)s
ORDER BY "createdAt" DESC
LIMIT %(limit)s;

-- dash_org_failures --
SELECT "id", "orgId", "status", "from", "to", "metadata"->>'twilioErrorCode' AS error_code,
       "metadata"->>'twilioErrorMessage' AS error_message, "createdAt"
FROM "MessageLog"
WHERE "orgId" = %(org_id)s AND "createdAt" >= %(since)s AND "createdAt" < %(until)s
  AND "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
ORDER BY "createdAt" DESC
LIMIT %(limit)s;

-- dash_org_audit --
SELECT "id", "tableName", "action", "actor", "reason", "before", "after", "createdAt"
FROM "AuditLog"
WHERE "orgId" = %(org_id)s AND "createdAt" > now() - interval '30 days'
ORDER BY "createdAt" DESC, "id" DESC
LIMIT 20;

-- dash_message_by_sid --
SELECT * FROM "MessageLog" WHERE "twilioSid" = %(sid)s;

-- dash_messages_by_to --
SELECT "id", "orgId", "direction", "status", "from", "to", "metadata"->>'twilioErrorCode' AS error_code, "createdAt"
FROM "MessageLog"
WHERE "to" = %(to)s AND "createdAt" >= %(since)s
  AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
  AND (%(status)s::text IS NULL OR "status" = %(status)s)
ORDER BY "createdAt" DESC
LIMIT %(limit)s;

-- dash_messages_by_org --
SELECT "id", "orgId", "direction", "status", "from", "to", "metadata"->>'twilioErrorCode' AS error_code, "createdAt"
FROM "MessageLog"
WHERE "orgId" = %(org_id)s AND "createdAt" >= %(since)s
  AND (%(status)s::text IS NULL OR "status" = %(status)s)
ORDER BY "createdAt" DESC
LIMIT %(limit)s;

-- dash_messages_by_status --
SELECT "id", "orgId", "direction", "status", "from", "to", "metadata"->>'twilioErrorCode' AS error_code, "createdAt"
FROM "MessageLog"
WHERE "direction" = %(direction)s AND "status" = %(status)s AND "createdAt" >= %(since)s
ORDER BY "createdAt" DESC
LIMIT %(limit)s;

-- dash_messages_recent --
SELECT "id", "orgId", "direction", "status", "from", "to", "metadata"->>'twilioErrorCode' AS error_code, "createdAt"
FROM "MessageLog"
WHERE "direction" = %(direction)s AND "createdAt" >= %(since)s
ORDER BY "createdAt" DESC
LIMIT %(limit)s;

-- ==== guardrails ====

-- rate_lock --
-- One claimant at a time per org: counting the window and taking a slot are one decision.
SELECT pg_advisory_xact_lock(hashtextextended('smsrelay.rate:' || %(org_id)s, 0)) AS locked;

-- rate_state --
-- clock_timestamp(), not now(): the lock above may have been waited for. "recent" counts sends
-- that occupied any part of the window: a send lasts from just before its request ("at") to its
-- answer ("doneAt"), and one still in flight (or whose worker died) lasts at most "in_flight"
-- seconds. "horizon" is when the limit-th latest slot (sent or reserved, this message's own
-- reservation aside) leaves the window: the time a newcomer should wait for. "freeAt" is when
-- the oldest send in the window (probably) leaves it: when a due reservation should try again.
WITH t AS (SELECT clock_timestamp() AS now)
SELECT t.now AS "now",
  (SELECT count(*) FROM "SendSlot" s
   WHERE s."orgId" = %(org_id)s AND NOT s."planned"
     AND s."at" > t.now - make_interval(secs => %(window)s + %(in_flight)s)
     AND coalesce(s."doneAt", s."at" + make_interval(secs => %(in_flight)s))
         > t.now - make_interval(secs => %(window)s))::int AS "recent",
  (SELECT coalesce(s."doneAt", s."at") FROM "SendSlot" s
   WHERE s."orgId" = %(org_id)s AND NOT (s."planned" AND s."messageId" = %(message_id)s)
   ORDER BY s."at" DESC OFFSET %(per_minute)s - 1 LIMIT 1)
   + make_interval(secs => %(window)s) AS "horizon",
  (SELECT min(coalesce(s."doneAt", s."at")) FROM "SendSlot" s
   WHERE s."orgId" = %(org_id)s AND NOT s."planned"
     AND s."at" > t.now - make_interval(secs => %(window)s + %(in_flight)s)
     AND coalesce(s."doneAt", s."at" + make_interval(secs => %(in_flight)s))
         > t.now - make_interval(secs => %(window)s))
   + make_interval(secs => %(window)s) AS "freeAt",
  p."at" AS "plannedAt", p."perMinute" AS "plannedPerMinute"
FROM t LEFT JOIN "SendSlot" p ON p."messageId" = %(message_id)s AND p."planned";

-- rate_drop_plan --
DELETE FROM "SendSlot" WHERE "messageId" = %(message_id)s AND "planned";

-- rate_record_send --
-- An unthrottled org's send is logged as instant: it only matters if a limit is set meanwhile.
INSERT INTO "SendSlot" ("orgId", "messageId", "at", "doneAt", "planned", "perMinute")
VALUES (%(org_id)s, %(message_id)s, coalesce(%(at)s, clock_timestamp()),
        CASE WHEN %(in_flight)s THEN NULL ELSE coalesce(%(at)s, clock_timestamp()) END, false, %(per_minute)s)
RETURNING "id";

-- rate_done --
UPDATE "SendSlot" SET "doneAt" = clock_timestamp() WHERE "id" = %(id)s AND "doneAt" IS NULL;

-- rate_plan --
INSERT INTO "SendSlot" ("orgId", "messageId", "at", "planned", "perMinute", "jobId")
VALUES (%(org_id)s, %(message_id)s, %(at)s, true, %(per_minute)s, %(job_id)s);

-- rate_replan_stale --
-- Reservations made under another limit than the org's current one (an operator changed
-- "maxMessagesPerMinute"): drop them and wake their jobs now, so a raised or removed limit
-- lets the messages go at once and a lowered one re-plans them under the new limit.
WITH stale AS (
    DELETE FROM "SendSlot" p USING "OrgSettings" s
    WHERE p."planned" AND s."orgId" = p."orgId"
      AND p."perMinute" IS DISTINCT FROM s."maxMessagesPerMinute"
    RETURNING p."jobId"
)
UPDATE procrastinate_jobs SET scheduled_at = now()
WHERE id IN (SELECT "jobId" FROM stale) AND status = 'todo'
RETURNING id;

-- rate_purge --
-- Sends older than the window no longer count; a reservation an hour overdue lost its job.
DELETE FROM "SendSlot"
WHERE "at" < now() - make_interval(secs => %(keep_seconds)s)
  AND (NOT "planned" OR "at" < now() - interval '1 hour');

-- throttled_orgs --
SELECT p."orgId", count(*)::int AS "waiting", max(p."at") AS "lastAt", min(p."at") AS "nextAt"
FROM "SendSlot" p WHERE p."planned"
GROUP BY 1 ORDER BY 1;

-- held_counts --
SELECT "metadata"->'hold'->>'reason' AS "reason", count(*)::int AS "count"
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" = 'queued' AND jsonb_typeof("metadata"->'hold') = 'object'
GROUP BY 1 ORDER BY 1;

-- guarded_orgs --
SELECT "orgId", "smsDisabled", "maxMessagesPerMinute" FROM "OrgSettings"
WHERE "smsDisabled" OR "maxMessagesPerMinute" IS NOT NULL
ORDER BY "orgId"
LIMIT 500;

-- has_outbound_to --
-- Whether this org ever messaged this recipient (A2P: the first message carries opt-out words).
-- One probe of "MessageLog_to_idx"; OFFSET 0 keeps the planner from ANDing in the ("direction", …)
-- index, which it did under stale statistics (a growing table): a scan of every outbound row on
-- each send, the largest share of PostgreSQL's CPU in the end-to-end benchmark.
SELECT 1 AS "sent" FROM (SELECT "orgId", "direction" FROM "MessageLog" WHERE "to" = %(to)s OFFSET 0) m
WHERE m."orgId" = %(org_id)s AND m."direction" = 'outbound'
LIMIT 1;

-- get_org_policy --
SELECT "orgId", "smsDisabled", "maxMessagesPerMinute", "defaultRegion", "contentPolicy", "landlinePolicy",
       "allowedCountries", "helpText", "validityPeriodSeconds", "dailySendCap", "updatedAt"
FROM "OrgSettings" WHERE "orgId" = %(org_id)s;

-- update_org_policy --
-- Only the keys present in "changes" move (the rest come from the row itself); the audit
-- trigger records before and after, with the actor named by set_actor.
UPDATE "OrgSettings" AS s
SET ("defaultRegion", "contentPolicy", "landlinePolicy", "allowedCountries", "helpText", "validityPeriodSeconds",
     "dailySendCap") =
    (SELECT r."defaultRegion", r."contentPolicy", r."landlinePolicy", r."allowedCountries", r."helpText",
            r."validityPeriodSeconds", r."dailySendCap"
     FROM jsonb_populate_record(s, %(changes)s) AS r)
WHERE s."orgId" = %(org_id)s
RETURNING "orgId", "smsDisabled", "maxMessagesPerMinute", "defaultRegion", "contentPolicy", "landlinePolicy",
          "allowedCountries", "helpText", "validityPeriodSeconds", "dailySendCap", "updatedAt";

-- ==== API limits, keys and retention (reliability & security) ====

-- forget_old_counters --
DELETE FROM "RateCounter" WHERE "window" < now() - interval '2 days';

-- list_api_keys --
SELECT "id", "prefix", "name", "createdAt", "revokedAt" FROM "ApiKey"
WHERE "orgId" = %(org_id)s ORDER BY "createdAt";

-- revoke_org_api_key --
UPDATE "ApiKey" SET "revokedAt" = now()
WHERE "id" = %(id)s AND "orgId" = %(org_id)s AND "revokedAt" IS NULL
RETURNING "id";

-- purge_content --
-- Content goes after its retention; the row and its metadata stay for the runbook's queries.
-- Bounded below by where the last run stopped (so purged history is never rescanned) and
-- batched (so a first run over years of history never holds long locks).
WITH batch AS (
    SELECT "id", "createdAt" FROM "MessageLog"
    WHERE "direction" = %(direction)s
      AND "createdAt" >= %(horizon)s AND "createdAt" < %(cutoff)s
    ORDER BY "createdAt"
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), purged AS (
    UPDATE "MessageLog" m SET "content" = NULL,
        "metadata" = m."metadata" || jsonb_build_object('contentPurgedAt', now())
    FROM batch WHERE m."id" = batch."id" AND m."content" IS NOT NULL
    RETURNING m."id"
)
SELECT (SELECT count(*) FROM purged) AS purged, (SELECT count(*) FROM batch) AS scanned,
       (SELECT max("createdAt") FROM batch) AS reached;

-- lock_daily_cap --
-- Serialises the cap check of one org's concurrent sends (only orgs with a cap pay for it).
SELECT pg_advisory_xact_lock(hashtext('daily-cap:' || %(org_id)s));

-- outbound_since --
SELECT count(*) AS n FROM "MessageLog"
WHERE "orgId" = %(org_id)s AND "createdAt" >= %(since)s AND "direction" = 'outbound';

-- ==== batch send ====
-- POST /v1/messages:batch: what a single send asks per message, asked once for the whole batch.

-- batch_opted_out --
SELECT "phone" FROM "OptOut" WHERE "orgId" = %(org_id)s AND "phone" = ANY(%(phones)s::text[]);

-- batch_messaged --
-- has_outbound_to for many recipients: one probe of "MessageLog_to_idx" each, stopping at the
-- first row of this org. OFFSET 0 keeps the org and direction filters out of the index scan: with
-- stale statistics the planner would otherwise AND in the ("direction", …) index, a scan of
-- every outbound row per recipient.
SELECT p AS "to" FROM unnest(%(phones)s::text[]) AS p
CROSS JOIN LATERAL (SELECT 1 FROM (SELECT "orgId", "direction" FROM "MessageLog" WHERE "to" = p OFFSET 0) m
                    WHERE m."orgId" = %(org_id)s AND m."direction" = 'outbound'
                    LIMIT 1) AS sent;

-- insert_outbound_with_jobs --
-- Accepted messages' rows and their send jobs in one statement (one round trip for a single send,
-- one for a whole batch): procrastinate's own array defer function, as enqueue_job, fed from the rows
-- the INSERT returned (a job exists only for a stored row), in the batch's order. The arrays
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
)
SELECT coalesce(cardinality(procrastinate_defer_jobs_v1(array_agg(
           ROW(%(queue)s, %(task)s, 0, j.lock, NULL, jsonb_build_object('message_id', j.id), NULL)::procrastinate_job_to_defer_v1
           ORDER BY j.n))), 0) AS jobs
FROM unnest(%(ids)b::text[], %(locks)b::text[]) WITH ORDINALITY AS j(id, lock, n)
JOIN inserted i ON i."id" = j.id;

-- ==== dashboard login and sessions ====

-- count_login_attempt --
-- The attempt counted against its account and its client in one round trip, before the password
-- is checked, so concurrent guesses cannot all slip under the limit.
INSERT INTO "RateCounter" ("key", "window", "count")
VALUES (%(account_key)s, %(window)s, 1), (%(client_key)s, %(window)s, 1)
ON CONFLICT ("key", "window") DO UPDATE SET "count" = "RateCounter"."count" + 1
RETURNING "key", "count";

-- forgive_login_client --
DELETE FROM "RateCounter" WHERE "key" = %(client_key)s;

-- use_login_form --
-- No row: this login form was posted before.
INSERT INTO "DashboardLoginForm" ("nonce") VALUES (%(nonce)s) ON CONFLICT DO NOTHING RETURNING "nonce";

-- forget_used_login_forms --
DELETE FROM "DashboardLoginForm" WHERE "usedAt" < now() - make_interval(secs => %(seconds)s);

-- start_dashboard_session --
INSERT INTO "DashboardSession" ("id", "user", "stamp", "expiresAt")
VALUES (%(id)s, %(user)s, %(stamp)s, now() + make_interval(secs => %(seconds)s));

-- dashboard_session --
-- Every dashboard request: one primary-key lookup. A session logged in under another password
-- is ended the first time it is seen, so changing the password back does not revive it.
WITH s AS (
    SELECT "id", "user", "stamp" FROM "DashboardSession"
    WHERE "id" = %(id)s AND "endedAt" IS NULL AND "expiresAt" > now()
), ended AS (
    UPDATE "DashboardSession" d SET "endedAt" = now(), "endReason" = 'password changed'
    FROM s WHERE d."id" = s."id" AND s."stamp" <> %(stamp)s
    RETURNING d."id"
)
SELECT s."user", s."stamp" = %(stamp)s AS "valid" FROM s;

-- end_dashboard_session --
UPDATE "DashboardSession" SET "endedAt" = now(), "endReason" = %(reason)s
WHERE "id" = %(id)s AND "endedAt" IS NULL;

-- end_sessions_of_other_passwords --
UPDATE "DashboardSession" SET "endedAt" = now(), "endReason" = 'password changed'
WHERE "endedAt" IS NULL AND "stamp" <> %(stamp)s;

-- forget_old_dashboard_sessions --
DELETE FROM "DashboardSession" WHERE "expiresAt" < now() - interval '1 day';
