-- What an operator asks during an incident (service/operations: incident.py, report.py,
-- dashboard.py): the incident toolkit, diagnosis, the report and the dashboard's pages.

-- ==== incident ====
-- Every window query of the incident toolkit (incident, diagnosis) filters "direction" and a
-- "createdAt" range first, so it is a range scan of ("direction", "createdAt") or ("direction",
-- "status", "createdAt"); queries over messages not yet final repeat the partial index's predicate
-- so the planner can use "MessageLog_open_idx".

-- incident_failures --
SELECT "id", "orgId", "channel", "status", "from", "to",
       "metadata"->>'twilioErrorCode' AS error_code,
       "metadata"->>'twilioErrorMessage' AS error_message,
       "createdAt"
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
  AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
  AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
  AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
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
  AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
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
  AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
GROUP BY 1
ORDER BY count DESC;

-- ==== diagnosis ====

-- diagnose_traffic --
-- last_ok_at: the newest message that got through (delivered, or handed on: sent); after a
-- cause's last failure it shows the cause cleared (domain/diagnosis_time.py). Still index-only.
SELECT "orgId", "from", count(*)::int AS total,
       (count(*) FILTER (WHERE "status" IN ('failed', 'undelivered')))::int AS failed,
       (count(*) FILTER (WHERE "status" = 'delivered'))::int AS delivered,
       max("createdAt") FILTER (WHERE "status" IN ('delivered', 'sent')) AS last_ok_at
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
GROUP BY 1, 2;

-- diagnose_failures --
-- With when (first, last, how many recently) and whether a retry of it was delivered since
-- (one primary-key probe per failure, and failures are few).
SELECT m."metadata"->>'twilioErrorCode' AS code, m."orgId", m."from", m."metadata"->>'country' AS country,
       m."metadata"->>'templateId' AS template, m."channel",
       count(*)::int AS count, min(m."createdAt") AS first_at, max(m."createdAt") AS last_at,
       (count(*) FILTER (WHERE m."createdAt" > %(recent_since)s))::int AS recent,
       (count(*) FILTER (WHERE r."status" IN ('delivered', 'read')))::int AS recovered
FROM "MessageLog" m
LEFT JOIN "MessageLog" r ON r."id" = m."metadata"->>'retriedBy'
WHERE m."direction" = 'outbound' AND m."status" IN ('failed', 'undelivered')
  AND m."createdAt" > %(since)s AND m."createdAt" <= %(until)s
  AND (%(channel)s::text IS NULL OR m."channel" = %(channel)s)
GROUP BY 1, 2, 3, 4, 5, 6;

-- diagnose_transient --
SELECT "metadata"->'lastError'->>'code' AS code, ("metadata"->'lastError'->>'httpStatus')::int AS http_status,
       "orgId", "from", "metadata"->>'country' AS country, "metadata"->>'templateId' AS template, "channel",
       count(*)::int AS count, min("createdAt") AS first_at, max("createdAt") AS last_at,
       (count(*) FILTER (WHERE "createdAt" > %(recent_since)s))::int AS recent
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('queued', 'sending', 'accepted', 'scheduled', 'sent')
  AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
  AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
  AND jsonb_typeof("metadata"->'lastError') = 'object'
GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- diagnose_baseline --
-- The same hours on earlier days (the caller lists them), from the rollup and its unfolded
-- deltas alone: per org, all outbound traffic (code '') and failures by code. Primary-key
-- lookups on "hour"; a week of one or two hours is a few hundred rows.
SELECT code, "orgId", sum(n)::int AS count FROM (
    SELECT '' AS code, "orgId", sum("count") AS n FROM "MessageRollup"
    WHERE "hour" = ANY(%(hours)s) AND "direction" = 'outbound' GROUP BY 1, 2
    UNION ALL
    SELECT "errorCode", "orgId", sum("count") FROM "MessageRollup"
    WHERE "hour" = ANY(%(hours)s) AND "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
      AND "errorCode" <> '' GROUP BY 1, 2
    UNION ALL
    SELECT '', "orgId", sum("count") FROM "MessageRollupDelta"
    WHERE "hour" = ANY(%(hours)s) AND "direction" = 'outbound' GROUP BY 1, 2
    UNION ALL
    SELECT "errorCode", "orgId", sum("count") FROM "MessageRollupDelta"
    WHERE "hour" = ANY(%(hours)s) AND "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
      AND "errorCode" <> '' GROUP BY 1, 2
) t
GROUP BY 1, 2
HAVING sum(n) > 0;

-- diagnose_queue --
-- Bounded to 3 days: older open messages are the reconciler's business, not a live queue. Only
-- queued, unsent rows are read (what every figure counts): "sent" rows still waiting for their
-- receipt pile up with traffic (tens of thousands at 10M rows) and would be read for nothing.
SELECT count(*)::int AS queued_unsent,
       -- A scheduled message waits from its sendAt, not from when it was accepted (migration 0023).
       extract(epoch FROM now() - min(coalesce("sendAt", "createdAt")))::float AS oldest_queued_age_s,
       (count(*) FILTER (WHERE jsonb_typeof("metadata"->'lastError') IS DISTINCT FROM 'object'
                           AND jsonb_typeof("metadata"->'hold') IS DISTINCT FROM 'object'
                           AND coalesce(("metadata"->>'attempts')::int, 0) = 0
                           AND coalesce("sendAt", "createdAt") < now() - make_interval(secs => %(stuck_after)s)))::int AS stuck_unsent
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" = 'queued' AND "twilioSid" IS NULL
  AND "createdAt" > now() - interval '3 days';

-- diagnose_held --
-- Only held rows are in "MessageLog_held_idx" (a hold is set on a queued message, never sent).
SELECT "metadata"->'hold'->>'reason' AS reason, "orgId", count(*)::int AS count
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" = 'queued' AND jsonb_typeof("metadata"->'hold') = 'object'
GROUP BY 1, 2;

-- diagnose_jobs --
-- Sends due and not taken (a run-out lease is due again) and sends under a live lease.
SELECT (count(*) FILTER (WHERE "dueAt" <= now()))::int AS todo,
       (count(*) FILTER (WHERE "dueAt" > now() AND "leaseOwner" IS NOT NULL))::int AS doing
FROM "SendQueue";

-- diagnose_workers --
SELECT (count(*) FILTER (WHERE "heartbeatAt" > now() - make_interval(secs => %(alive_within)s)))::int AS alive,
       count(*)::int AS registered,
       extract(epoch FROM now() - max("heartbeatAt"))::float AS last_heartbeat_age_s
FROM "SendWorker";

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

-- ==== report ====

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

-- ==== dashboard ====

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
-- Runbook step 2 (of one channel when the dashboard filters by it).
SELECT "id", "orgId", "status", "from", "to", "metadata"->>'twilioErrorCode' AS error_code,
       "metadata"->>'twilioErrorMessage' AS error_message, "createdAt"
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
  AND "createdAt" >= %(since)s AND "createdAt" < %(until)s
  AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
ORDER BY "createdAt" DESC
LIMIT %(limit)s;

-- dash_org_failures --
SELECT "id", "orgId", "status", "from", "to", "metadata"->>'twilioErrorCode' AS error_code,
       "metadata"->>'twilioErrorMessage' AS error_message, "createdAt"
FROM "MessageLog"
WHERE "orgId" = %(org_id)s AND "createdAt" >= %(since)s AND "createdAt" < %(until)s
  AND "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
  AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
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
SELECT "id", "orgId", "direction", "channel", "status", "from", "to", "metadata"->>'twilioErrorCode' AS error_code, "createdAt"
FROM "MessageLog"
WHERE "to" = %(to)s AND "createdAt" >= %(since)s
  AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
  AND (%(status)s::text IS NULL OR "status" = %(status)s)
  AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
ORDER BY "createdAt" DESC
LIMIT %(limit)s;

-- dash_messages_by_org --
SELECT "id", "orgId", "direction", "channel", "status", "from", "to", "metadata"->>'twilioErrorCode' AS error_code, "createdAt"
FROM "MessageLog"
WHERE "orgId" = %(org_id)s AND "createdAt" >= %(since)s
  AND (%(status)s::text IS NULL OR "status" = %(status)s)
  AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
ORDER BY "createdAt" DESC
LIMIT %(limit)s;

-- dash_messages_by_status --
SELECT "id", "orgId", "direction", "channel", "status", "from", "to", "metadata"->>'twilioErrorCode' AS error_code, "createdAt"
FROM "MessageLog"
WHERE "direction" = %(direction)s AND "status" = %(status)s AND "createdAt" >= %(since)s
  AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
ORDER BY "createdAt" DESC
LIMIT %(limit)s;

-- dash_messages_recent --
SELECT "id", "orgId", "direction", "channel", "status", "from", "to", "metadata"->>'twilioErrorCode' AS error_code, "createdAt"
FROM "MessageLog"
WHERE "direction" = %(direction)s AND "createdAt" >= %(since)s
  AND (%(channel)s::text IS NULL OR "channel" = %(channel)s)
ORDER BY "createdAt" DESC
LIMIT %(limit)s;
