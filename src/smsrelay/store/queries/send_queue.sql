-- The send loop's queue ("SendQueue", migrations 0012 and 0013; service/outbound/send_queue.py
-- and service/jobs.py): enqueue, claim under a lease, renew, finish, put back. A lease is
-- "dueAt" pushed into the future with "leaseOwner" set, so a dead worker's rows come due again
-- by themselves.

-- enqueue_send --
-- A free row moves to the earlier of its time and the new one. A leased row keeps its lease (no
-- second run beside the running one) and records the re-run instead; the lease's finish turns it
-- into "dueAt". Whoever asks (the running send's own retry or a release from outside), the row
-- then runs once more after the current run, at the earliest time anyone asked for.
INSERT INTO "SendQueue" ("messageId", "orgId", "dueAt")
SELECT "id", "orgId", coalesce(%(at)s::timestamptz, now()) FROM "MessageLog" WHERE "id" = %(message_id)s
ON CONFLICT ("messageId") DO UPDATE SET
    "dueAt" = CASE WHEN "SendQueue"."leaseOwner" IS NULL THEN least("SendQueue"."dueAt", EXCLUDED."dueAt")
                   ELSE "SendQueue"."dueAt" END,
    "rerunAt" = CASE WHEN "SendQueue"."leaseOwner" IS NULL THEN NULL
                     ELSE least("SendQueue"."rerunAt", EXCLUDED."dueAt") END;

-- send_queue_claim --
-- Up to %(limit)s due rows, oldest due first, each under a lease of %(lease)s seconds. SKIP
-- LOCKED: concurrent claimers take disjoint rows without waiting for each other. Whatever re-run
-- was asked for before this claim is what this run does, so it is cleared.
WITH due AS (
    SELECT "messageId" FROM "SendQueue" WHERE "dueAt" <= now()
    ORDER BY "dueAt" LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE "SendQueue" q
SET "leaseOwner" = %(owner)s, "dueAt" = now() + make_interval(secs => %(lease)s),
    "claims" = q."claims" + 1, "rerunAt" = NULL
FROM due WHERE q."messageId" = due."messageId"
RETURNING q."messageId" AS "id", q."claims";

-- send_queue_claim_marked --
-- The claim and, for every claimed message nothing but the send is left to decide for, its
-- in-flight marker, in one statement and one (synchronous) commit: the fence that
-- mark_in_flight (dispatch.sql) is for a send decided one by one. "Nothing left to decide" is
-- guards.plain's test, kept narrower where it is cheaper to be sure: a first request (no
-- marker of an earlier one, no autopilot probe), an org without a rate limit or a switched-off
-- channel, the kill switch off, no opt-out, reservation, disabled template or autopilot hold,
-- within the validity period, no spend policy (caps, price ceiling) and no pumping hold. Every
-- other claimed row comes back unmarked (its columns null) and goes through dispatch's guards
-- one by one. A message row someone else holds locked is
-- skipped here too, not waited for: its send goes the guarded way, which waits.
-- The marker's fields and the SendSlot instant are mark_in_flight's, so a re-run reads a
-- marker made here as one made there.
WITH due AS (
    SELECT "messageId" FROM "SendQueue" WHERE "dueAt" <= now()
    ORDER BY "dueAt" LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE "SendQueue" q
    SET "leaseOwner" = %(owner)s, "dueAt" = now() + make_interval(secs => %(lease)s),
        "claims" = q."claims" + 1, "rerunAt" = NULL
    FROM due WHERE q."messageId" = due."messageId"
    RETURNING q."messageId", q."claims"
), free AS (
    SELECT m."id" FROM "MessageLog" m JOIN claimed c ON c."messageId" = m."id"
    WHERE %(enabled)s
    FOR UPDATE OF m SKIP LOCKED
), marked AS (
    UPDATE "MessageLog" m
    SET "metadata" = m."metadata" || jsonb_build_object(
            'attempts', coalesce((m."metadata"->>'attempts')::int, 0) + 1,
            'hold', NULL, 'throttled', NULL, 'failedChecks', NULL,
            'firstAttemptAt', coalesce(m."metadata"->'firstAttemptAt', to_jsonb(clock_timestamp())),
            'inFlight', jsonb_build_object('since', clock_timestamp(), 'last', clock_timestamp(),
                                           'token', 'run_' || replace(gen_random_uuid()::text, '-', ''))),
        "updatedAt" = now()
    FROM free f, "OrgSettings" s
    WHERE m."id" = f."id" AND s."orgId" = m."orgId"
      AND m."direction" = 'outbound' AND m."status" = 'queued' AND m."twilioSid" IS NULL
      AND jsonb_typeof(m."metadata"->'inFlight') IS DISTINCT FROM 'object'
      AND NOT (m."metadata" ? 'autopilotProbe')
      AND s."maxMessagesPerMinute" IS NULL
      AND NOT (s."smsDisabled" OR s."mmsDisabled" OR s."whatsappDisabled")
      AND clock_timestamp() - coalesce(m."sendAt", m."createdAt") <= make_interval(secs => s."validityPeriodSeconds")
      AND NOT EXISTS (SELECT 1 FROM "SystemSetting" k WHERE k."key" = %(pause_key)s
                      AND coalesce(k."value"->'paused', 'null'::jsonb) NOT IN ('null'::jsonb, 'false'::jsonb))
      AND NOT EXISTS (SELECT 1 FROM "OptOut" o WHERE o."orgId" = m."orgId" AND o."phone" = m."to")
      AND NOT EXISTS (SELECT 1 FROM "SendSlot" p WHERE p."messageId" = m."id" AND p."planned")
      AND NOT EXISTS (SELECT 1 FROM "MessageTemplate" t WHERE t."id" = m."metadata"->>'templateId'
                      AND t."disabled" IS NOT NULL)
      AND NOT EXISTS (SELECT 1 FROM "AutopilotAction" a
                      WHERE a."kind" = 'hold' AND NOT a."dryRun" AND a."endedAt" IS NULL
                        AND (a."scopeKind", a."scopeValue") IN (('sender', m."from"), ('country', m."metadata"->>'country'),
                                                                ('template', m."metadata"->>'templateId'),
                                                                ('org_country', m."orgId" || ':' || (m."metadata"->>'country'))))
      -- Spend caps and the price ceiling are decided under the org's spend lock in dispatch.
      AND NOT EXISTS (SELECT 1 FROM "OrgSpendPolicy" sp WHERE sp."orgId" = m."orgId")
    RETURNING m."id", m."orgId", m."to", m."from", m."content", m."metadata", s."validityPeriodSeconds"
), logged AS (
    INSERT INTO "SendSlot" ("orgId", "messageId", "at", "doneAt", "planned")
    SELECT "orgId", "id", clock_timestamp(), clock_timestamp(), false FROM marked
)
SELECT c."messageId" AS "id", c."claims", mk."id" IS NOT NULL AS "marked", mk."to", mk."from", mk."content",
       mk."metadata", mk."validityPeriodSeconds"
FROM claimed c LEFT JOIN marked mk ON mk."id" = c."messageId";

-- send_queue_renew --
-- One heartbeat: the worker's liveness row and the leases of every send it still runs.
WITH beat AS (
    INSERT INTO "SendWorker" ("id", "heartbeatAt", "expiresAt")
    VALUES (%(owner)s, now(), now() + make_interval(secs => %(lease)s))
    ON CONFLICT ("id") DO UPDATE SET "heartbeatAt" = EXCLUDED."heartbeatAt", "expiresAt" = EXCLUDED."expiresAt"
), forgotten AS (
    -- A killed worker's row stays (the diagnosis reads it as a worker that died) for a day.
    DELETE FROM "SendWorker" WHERE "expiresAt" < now() - interval '1 day'
)
UPDATE "SendQueue" SET "dueAt" = now() + make_interval(secs => %(lease)s)
WHERE "messageId" = ANY(%(ids)s::text[]) AND "leaseOwner" = %(owner)s;

-- send_queue_finish --
-- Runs that ended: their rows go, except where a re-run was asked for meanwhile, which is
-- re-armed for its time. The rows are locked first so an enqueue that committed while this
-- statement waited is seen (an enqueue waiting on this statement finds the row gone and inserts).
WITH mine AS (
    SELECT "messageId", "rerunAt" FROM "SendQueue"
    WHERE "messageId" = ANY(%(ids)s::text[]) AND "leaseOwner" = %(owner)s
    FOR UPDATE
), rearmed AS (
    UPDATE "SendQueue" q SET "leaseOwner" = NULL, "dueAt" = mine."rerunAt", "rerunAt" = NULL, "claims" = 0
    FROM mine WHERE q."messageId" = mine."messageId" AND mine."rerunAt" IS NOT NULL
    RETURNING q."dueAt"
), deleted AS (
    DELETE FROM "SendQueue" q USING mine WHERE q."messageId" = mine."messageId" AND mine."rerunAt" IS NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM deleted)::int AS "deleted",
       (SELECT count(*) FROM rearmed WHERE "dueAt" <= now())::int AS "dueNow";

-- send_queue_fail --
-- A run that raised (a database blip): back in line after a backoff doubling with each claim
-- since its last run that ended, capped. Never dropped.
UPDATE "SendQueue"
SET "leaseOwner" = NULL, "rerunAt" = NULL,
    "dueAt" = now() + make_interval(secs => least(%(cap)s, %(base)s * power(2, least("claims", 30) - 1)))
WHERE "messageId" = %(id)s AND "leaseOwner" = %(owner)s
RETURNING "claims";

-- send_queue_put_back --
-- Claimed but never started (a graceful stop): due again at once, the claim not counted.
UPDATE "SendQueue" SET "leaseOwner" = NULL, "dueAt" = now(), "rerunAt" = NULL, "claims" = greatest("claims" - 1, 0)
WHERE "messageId" = ANY(%(ids)s::text[]) AND "leaseOwner" = %(owner)s;

-- send_worker_gone --
DELETE FROM "SendWorker" WHERE "id" = %(owner)s;

-- send_queue_listen --
LISTEN smsrelay_send_queue;

-- send_queue_bloat --
-- Every send inserts, updates and deletes its "SendQueue" row: a table of a few hundred live rows
-- leaves thousands of dead ones a second, which each claim's index walk steps over until a
-- vacuum. The server's counters, flushed by backends about once a second.
SELECT coalesce(n_dead_tup, 0)::bigint AS "dead", coalesce(n_live_tup, 0)::bigint AS "live"
FROM pg_stat_user_tables WHERE relid = '"SendQueue"'::regclass;

-- send_queue_vacuum --
-- SKIP_LOCKED: another worker vacuuming it already is as good.
VACUUM (SKIP_LOCKED, ANALYZE) "SendQueue";
