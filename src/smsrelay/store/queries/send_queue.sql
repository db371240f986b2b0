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
