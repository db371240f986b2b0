-- Events orgs hear back (service/events): the outbox the "MessageLog" triggers of migration 0020
-- fill, its delivery (claim, record an attempt), the events feed, and the org's webhook settings
-- and signing secrets.

-- ==== delivery ====

-- webhook_claim_lock --
-- One claimer at a time across every worker, so the per-org cap counts what is really in flight.
SELECT pg_try_advisory_xact_lock(hashtext('smsrelay.webhook_claim')) AS "got";

-- claim_webhook_events --
-- Due events, at most %(per_org)s in flight per org: each org with pending events is visited on
-- its own (a skip scan of the pending index), so one org's backlog never fills the batch and
-- another's events are claimed beside it. An event waits while an earlier event of its message
-- is pending (the receiver gets a message's events in sequence). The lease is "nextAttemptAt":
-- a worker that dies leaves the event due again when its lease runs out.
WITH RECURSIVE orgs AS (
    (SELECT e."orgId" FROM "WebhookEvent" e WHERE e."state" = 'pending' ORDER BY e."orgId" LIMIT 1)
    UNION ALL
    SELECT (SELECT e."orgId" FROM "WebhookEvent" e
            WHERE e."state" = 'pending' AND e."orgId" > orgs."orgId" ORDER BY e."orgId" LIMIT 1)
    FROM orgs WHERE orgs."orgId" IS NOT NULL
), room AS (
    SELECT o."orgId", %(per_org)s - (SELECT count(*) FROM "WebhookEvent" b
                                     WHERE b."orgId" = o."orgId" AND b."leaseUntil" > now()) AS "free"
    FROM orgs o WHERE o."orgId" IS NOT NULL
), picked AS (
    SELECT d."id" FROM room r
    CROSS JOIN LATERAL (
        SELECT e."id", e."nextAttemptAt" FROM "WebhookEvent" e
        WHERE e."orgId" = r."orgId" AND e."state" = 'pending' AND e."nextAttemptAt" <= now()
          AND NOT EXISTS (SELECT 1 FROM "WebhookEvent" b
                          WHERE b."messageId" = e."messageId" AND b."sequence" < e."sequence" AND b."state" = 'pending')
        ORDER BY e."nextAttemptAt", e."id"
        LIMIT greatest(r."free", 0)
    ) d
    ORDER BY d."nextAttemptAt", d."id"
    LIMIT %(limit)s
)
UPDATE "WebhookEvent" e
SET "leaseUntil" = now() + make_interval(secs => %(lease_seconds)s),
    "nextAttemptAt" = now() + make_interval(secs => %(lease_seconds)s),
    "attempts" = e."attempts" + 1
FROM picked p
WHERE e."id" = p."id" AND e."state" = 'pending'
RETURNING e.*, ARRAY(SELECT s."secret" FROM "WebhookSecret" s
                     WHERE s."orgId" = e."orgId" AND (s."expiresAt" IS NULL OR s."expiresAt" > now())
                     ORDER BY s."expiresAt" IS NOT NULL, s."id" DESC) AS "secrets";

-- record_webhook_attempt --
-- One attempt's outcome, in one statement: the event's state (delivered; pending again after
-- %(retry_delay)s seconds; failed once refused or retried for %(retry_for)s seconds), its
-- delivery log row, the endpoint's state (failing after %(failing_after)s failures in a row)
-- and the metrics' deltas. An event replayed while this attempt was in flight (the replay
-- cleared the lease) stays due: the replay is owed whatever this attempt got.
WITH ev AS (
    UPDATE "WebhookEvent" e
    SET "leaseUntil" = NULL, "lastStatusCode" = %(status_code)s, "lastError" = %(error)s,
        "lastLatencyMs" = %(latency_ms)s,
        "state" = CASE WHEN e."leaseUntil" IS NULL AND e."state" = 'pending' THEN 'pending'
                       WHEN %(delivered)s THEN 'delivered'
                       WHEN %(retry_delay)s::float8 IS NULL
                            OR now() + make_interval(secs => %(retry_delay)s) - e."createdAt"
                               > make_interval(secs => %(retry_for)s) THEN 'failed'
                       ELSE 'pending' END,
        "deliveredAt" = CASE WHEN %(delivered)s THEN now() ELSE e."deliveredAt" END,
        "nextAttemptAt" = CASE WHEN e."leaseUntil" IS NULL AND e."state" = 'pending' THEN e."nextAttemptAt"
                               WHEN %(delivered)s OR %(retry_delay)s::float8 IS NULL THEN NULL
                               ELSE now() + make_interval(secs => %(retry_delay)s) END
    WHERE e."id" = %(id)s
    RETURNING e."id", e."orgId", e."state", e."attempts"
), logged AS (
    INSERT INTO "WebhookDelivery" ("eventId", "orgId", "attempt", "url", "outcome", "statusCode", "latencyMs", "error")
    SELECT ev."id", ev."orgId", ev."attempts", %(url)s, %(outcome)s, %(status_code)s, %(latency_ms)s, %(error)s FROM ev
), counted AS (
    INSERT INTO "MessageCounterDelta" ("name", "orgId", "status", "le", "count", "sum")
    SELECT 'webhook', ev."orgId", %(outcome)s, 0, 1, %(latency_ms)s / 1000.0 FROM ev
    UNION ALL
    SELECT 'webhook_latency', ev."orgId", '', smsrelay_latency_bucket(%(latency_ms)s / 1000.0), 1, %(latency_ms)s / 1000.0 FROM ev
), endpoint AS (
    INSERT INTO "WebhookEndpoint" AS w ("orgId", "url", "state", "consecutiveFailures", "firstFailureAt", "failingSince",
                                        "lastSuccessAt", "lastFailureAt", "lastError")
    SELECT ev."orgId", %(url)s,
           CASE WHEN NOT %(delivered)s AND %(failing_after)s <= 1 THEN 'failing' ELSE 'ok' END,
           CASE WHEN %(delivered)s THEN 0 ELSE 1 END,
           CASE WHEN %(delivered)s THEN NULL ELSE now() END,
           CASE WHEN NOT %(delivered)s AND %(failing_after)s <= 1 THEN now() END,
           CASE WHEN %(delivered)s THEN now() END,
           CASE WHEN %(delivered)s THEN NULL ELSE now() END,
           %(error)s
    FROM ev
    ON CONFLICT ("orgId", "url") DO UPDATE SET
        "consecutiveFailures" = CASE WHEN %(delivered)s THEN 0 ELSE w."consecutiveFailures" + 1 END,
        "firstFailureAt" = CASE WHEN %(delivered)s THEN NULL ELSE coalesce(w."firstFailureAt", now()) END,
        "state" = CASE WHEN %(delivered)s THEN 'ok'
                       WHEN w."consecutiveFailures" + 1 >= %(failing_after)s THEN 'failing' ELSE w."state" END,
        "failingSince" = CASE WHEN %(delivered)s THEN NULL
                              WHEN w."consecutiveFailures" + 1 >= %(failing_after)s
                                   THEN coalesce(w."failingSince", w."firstFailureAt", now())
                              ELSE w."failingSince" END,
        "lastSuccessAt" = CASE WHEN %(delivered)s THEN now() ELSE w."lastSuccessAt" END,
        "lastFailureAt" = CASE WHEN %(delivered)s THEN w."lastFailureAt" ELSE now() END,
        "lastError" = CASE WHEN %(delivered)s THEN w."lastError" ELSE %(error)s END
    RETURNING w."state"
)
SELECT ev."state", (SELECT endpoint."state" FROM endpoint) AS "endpointState" FROM ev;

-- ==== the events feed ====

-- events_feed --
-- Ordered by ("txid", "id") and only events of transactions older than this snapshot's xmin:
-- every event committed later has a txid at or above it, so a cursor never passes one unseen.
SELECT e.*, e."txid"::text AS "txidText"
FROM "WebhookEvent" e
WHERE e."orgId" = %(org_id)s
  AND (e."txid", e."id") > (%(after_txid)s::text::xid8, %(after_id)s::bigint)
  AND e."txid" < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY e."txid", e."id"
LIMIT %(limit)s;

-- ==== deliveries: the log an org and its operator read, replay, test ====

-- recent_webhook_deliveries --
-- Events that have (or had) an endpoint to go to, newest first.
SELECT e."id", e."type", e."messageId", e."sequence", e."status", e."url", e."state", e."attempts",
       e."createdAt", e."nextAttemptAt", e."deliveredAt", e."lastStatusCode", e."lastError", e."lastLatencyMs"
FROM "WebhookEvent" e
WHERE e."orgId" = %(org_id)s AND e."state" <> 'none'
  AND (%(state)s::text IS NULL OR e."state" = %(state)s)
  AND (%(before_id)s::bigint IS NULL OR e."id" < %(before_id)s)
ORDER BY e."id" DESC
LIMIT %(limit)s;

-- org_webhook_event --
SELECT e.* FROM "WebhookEvent" e WHERE e."id" = %(id)s AND e."orgId" = %(org_id)s;

-- webhook_event_attempts --
SELECT d."attempt", d."url", d."at", d."outcome", d."statusCode", d."latencyMs", d."error"
FROM "WebhookDelivery" d WHERE d."eventId" = %(event_id)s
ORDER BY d."id";

-- replay_webhook_event --
-- Due again at once; an event that had nowhere to go is sent to the org's URL of today.
UPDATE "WebhookEvent" e
SET "state" = 'pending', "nextAttemptAt" = now(), "leaseUntil" = NULL,
    "url" = coalesce(e."url", CASE WHEN e."type" = 'message.received' THEN s."inboundWebhookUrl" ELSE s."statusWebhookUrl" END)
FROM "OrgSettings" s
WHERE e."id" = %(id)s AND e."orgId" = %(org_id)s AND s."orgId" = e."orgId"
  AND coalesce(e."url", CASE WHEN e."type" = 'message.received' THEN s."inboundWebhookUrl" ELSE s."statusWebhookUrl" END) IS NOT NULL
RETURNING e."id", e."url", e."state";

-- insert_test_event --
INSERT INTO "WebhookEvent" ("orgId", "type", "url", "state", "nextAttemptAt")
VALUES (%(org_id)s, 'webhook.test', %(url)s, 'pending', now())
RETURNING *;

-- ==== an org's webhook settings and signing secrets ====

-- org_webhook_settings --
SELECT s."orgId", s."statusWebhookUrl", s."inboundWebhookUrl",
       (SELECT coalesce(jsonb_agg(jsonb_build_object('createdAt', k."createdAt", 'expiresAt', k."expiresAt")
                                  ORDER BY k."id" DESC), '[]'::jsonb)
        FROM "WebhookSecret" k
        WHERE k."orgId" = s."orgId" AND (k."expiresAt" IS NULL OR k."expiresAt" > now())) AS "secrets",
       (SELECT coalesce(jsonb_agg(to_jsonb(w) - 'orgId' ORDER BY w."url"), '[]'::jsonb)
        FROM "WebhookEndpoint" w WHERE w."orgId" = s."orgId") AS "endpoints"
FROM "OrgSettings" s WHERE s."orgId" = %(org_id)s;

-- update_webhook_urls --
UPDATE "OrgSettings"
SET "statusWebhookUrl" = CASE WHEN %(set_status)s THEN %(status_url)s ELSE "statusWebhookUrl" END,
    "inboundWebhookUrl" = CASE WHEN %(set_inbound)s THEN %(inbound_url)s ELSE "inboundWebhookUrl" END
WHERE "orgId" = %(org_id)s
RETURNING "orgId";

-- insert_webhook_secret --
INSERT INTO "WebhookSecret" ("orgId", "secret") VALUES (%(org_id)s, %(secret)s);

-- rotate_webhook_secret --
-- The current secret stays valid for the grace period; one rotated out earlier ends now (two at
-- most are ever active); the new one becomes current.
WITH ended AS (
    DELETE FROM "WebhookSecret" WHERE "orgId" = %(org_id)s AND "expiresAt" IS NOT NULL
), kept AS (
    UPDATE "WebhookSecret" SET "expiresAt" = now() + make_interval(secs => %(grace_seconds)s)
    WHERE "orgId" = %(org_id)s AND "expiresAt" IS NULL
    RETURNING "expiresAt"
)
INSERT INTO "WebhookSecret" ("orgId", "secret")
SELECT %(org_id)s, %(secret)s
RETURNING "createdAt", (SELECT max("expiresAt") FROM kept) AS "previousExpiresAt";

-- ==== metrics and alerts ====

-- webhook_counter_totals --
-- Delivery attempts by org and outcome, and their latency histogram (always per org).
SELECT "name", "orgId", "status", "le", sum("count")::bigint AS "count", sum("sum")::float8 AS "sum"
FROM (SELECT "name", "orgId", "status", "le", "count", "sum" FROM "MessageCounter"
      WHERE "name" IN ('webhook', 'webhook_latency')
      UNION ALL
      SELECT "name", "orgId", "status", "le", "count", "sum" FROM "MessageCounterDelta"
      WHERE "name" IN ('webhook', 'webhook_latency')) c
GROUP BY 1, 2, 3, 4;

-- webhook_endpoint_states --
-- Every endpoint's state, with how long a failing one has been failing and what waits for it.
SELECT w."orgId", w."url", w."state", w."consecutiveFailures", w."failingSince", w."lastError",
       greatest(0, extract(epoch FROM now() - w."failingSince"))::float8 AS "failingSeconds",
       (SELECT count(*) FROM "WebhookEvent" e
        WHERE e."orgId" = w."orgId" AND e."state" = 'pending' AND e."url" = w."url") AS "pending"
FROM "WebhookEndpoint" w
ORDER BY w."orgId", w."url";

-- ==== retention ====

-- purge_received_event_bodies --
-- An inbound event's text goes when the message's content does (CONTENT_RETENTION_DAYS).
UPDATE "WebhookEvent" SET "message" = "message" - 'body'
WHERE "id" IN (SELECT "id" FROM "WebhookEvent"
               WHERE "type" = 'message.received' AND "message" ? 'body' AND "createdAt" < %(cutoff)s
               ORDER BY "createdAt" LIMIT %(limit)s FOR UPDATE SKIP LOCKED);
