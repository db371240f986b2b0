-- The worker's side of an outbound message (service/outbound: dispatch.py, guards.py,
-- throttle.py, release.py, retry.py, and service/jobs.py): jobs, the send claim, holds, the
-- per-org rate, releasing held messages and re-sending failed ones.

-- ==== jobs and claims ====

-- enqueue_job --
-- procrastinate's own defer function (forwards to orgs' webhooks), called on our connection so
-- the job commits (or not) together with the "MessageLog" row; the lock caps an org's forwards.
SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(
    %(queue)s, %(task)s, 0, %(lock)s, NULL, %(args)s, %(scheduled_at)s
)]::procrastinate_job_to_defer_v1[])) AS id;

-- sid_taken --
SELECT 1 AS taken FROM "MessageLog" WHERE "twilioSid" = %(sid)s;

-- try_lock --
-- One holder at a time across processes and machines for a periodic duty.
SELECT pg_try_advisory_xact_lock(%(key)s) AS locked;

-- ==== guards ====

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
      -- An unknown outcome waits for Twilio's word, not for a guard to lift.
      AND m."metadata"->'hold'->>'reason' IS DISTINCT FROM 'unknown_outcome'
      -- A template hold (service/templates/hold.py) lifts when its template is enabled.
      AND (m."metadata"->'hold'->>'reason' IS DISTINCT FROM 'template_disabled'
           OR m."createdAt" < now() - make_interval(secs => s."validityPeriodSeconds")
           OR NOT EXISTS (SELECT 1 FROM "MessageTemplate" t WHERE t."id" = m."metadata"->>'templateId'
                          AND t."disabled" IS NOT NULL))
      -- The autopilot releases its own holds, once it has seen their cause clear.
      AND m."metadata"->'hold'->>'reason' IS DISTINCT FROM 'autopilot'
      -- Spend caps and the price ceiling release their own (service/spend/caps.py).
      AND m."metadata"->'hold'->>'reason' NOT IN ('spend_cap', 'price_ceiling')
      AND (m."createdAt" < CASE WHEN NOT (s."smsDisabled" OR s."mmsDisabled" OR s."whatsappDisabled")
                                     AND coalesce(s."maxMessagesPerMinute", 1) > 0
                                THEN 'infinity'::timestamptz
                                ELSE now() - make_interval(secs => s."validityPeriodSeconds") END
           -- Only some of the org's channels switched off (migration 0023): the others' holds go.
           OR ((s."mmsDisabled", s."whatsappDisabled") IS DISTINCT FROM (s."smsDisabled", s."smsDisabled")
               AND coalesce(s."maxMessagesPerMinute", 1) > 0
               AND NOT CASE m."channel" WHEN 'mms' THEN s."mmsDisabled" WHEN 'whatsapp' THEN s."whatsappDisabled"
                                        ELSE s."smsDisabled" END))
    ORDER BY m."createdAt", m."id"
    LIMIT %(limit)s
    FOR UPDATE OF m SKIP LOCKED
) h
ORDER BY h."createdAt", h."id"
LIMIT %(limit)s;

-- ==== throttle ====

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
-- A throttled send, open until its answer (rate_done); unthrottled ones are logged by mark_in_flight.
INSERT INTO "SendSlot" ("orgId", "messageId", "at", "doneAt", "planned", "perMinute")
VALUES (%(org_id)s, %(message_id)s, coalesce(%(at)s, clock_timestamp()),
        CASE WHEN %(in_flight)s THEN NULL ELSE coalesce(%(at)s, clock_timestamp()) END, false, %(per_minute)s)
RETURNING "id";

-- rate_done --
UPDATE "SendSlot" SET "doneAt" = clock_timestamp() WHERE "id" = %(id)s AND "doneAt" IS NULL;

-- rate_plan --
INSERT INTO "SendSlot" ("orgId", "messageId", "at", "planned", "perMinute")
VALUES (%(org_id)s, %(message_id)s, %(at)s, true, %(per_minute)s);

-- rate_replan_stale --
-- Reservations made under another limit than the org's current one (an operator changed
-- "maxMessagesPerMinute"): drop them and wake their sends now, so a raised or removed limit
-- lets the messages go at once and a lowered one re-plans them under the new limit. A row
-- leased by a running send is left alone: that run decides under the current limit.
WITH stale AS (
    DELETE FROM "SendSlot" p USING "OrgSettings" s
    WHERE p."planned" AND s."orgId" = p."orgId"
      AND p."perMinute" IS DISTINCT FROM s."maxMessagesPerMinute"
    RETURNING p."messageId"
)
UPDATE "SendQueue" SET "dueAt" = now()
WHERE "messageId" IN (SELECT "messageId" FROM stale) AND "leaseOwner" IS NULL AND "dueAt" > now()
RETURNING "messageId";

-- rate_purge --
-- Sends older than the window no longer count; a reservation an hour overdue lost its job.
DELETE FROM "SendSlot"
WHERE "at" < now() - make_interval(secs => %(keep_seconds)s)
  AND (NOT "planned" OR "at" < now() - interval '1 hour');

-- throttled_orgs --
SELECT p."orgId", count(*)::int AS "waiting", max(p."at") AS "lastAt", min(p."at") AS "nextAt"
FROM "SendSlot" p WHERE p."planned"
GROUP BY 1 ORDER BY 1;

-- ==== retry ====

-- retry_candidates --
SELECT "id", "orgId", "from", "to", "status", "createdAt",
       "metadata"->>'twilioErrorCode' AS code, "metadata"->>'country' AS country,
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
                                            'messagingServiceSid', "metadata"->'messagingServiceSid',
                                            -- an MMS keeps its media, a template its content (issue 18)
                                            'mediaUrls', "metadata"->'mediaUrls',
                                            'contentSid', "metadata"->'contentSid',
                                            'contentVariables', "metadata"->'contentVariables'))
       || %(metadata)s
FROM "MessageLog" WHERE "id" = %(id)s
RETURNING "id";

-- ==== the send ====

-- send_facts --
-- Everything a send is decided on, in one round trip: the message, its org's settings, the
-- runtime kill switch, the recipient's opt-out and whether the message holds a reservation.
-- No lock: a send that goes on proves what it read in mark_in_flight, and every other outcome
-- re-reads the message under its lock before it writes.
-- One statement for the sends of one worker that start together, or for one alone
-- (service/outbound/send_writes.py).
SELECT m.*, s."smsDisabled", s."mmsDisabled", s."whatsappDisabled", s."maxMessagesPerMinute", s."validityPeriodSeconds",
       (SELECT k."value" FROM "SystemSetting" k WHERE k."key" = %(pause_key)s) AS "pause",
       EXISTS (SELECT 1 FROM "OptOut" o WHERE o."orgId" = m."orgId" AND o."phone" = m."to") AS "optedOut",
       EXISTS (SELECT 1 FROM "SendSlot" p WHERE p."messageId" = m."id" AND p."planned") AS "planned",
       EXISTS (SELECT 1 FROM "MessageTemplate" t WHERE t."id" = m."metadata"->>'templateId'
               AND t."disabled" IS NOT NULL) AS "templateDisabled",
       -- The autopilot's holds of one sender, country or template (service/operations/autopilot*.py);
       -- its probe is the one message a hold lets through. Templates: h17's "metadata"->>'templateId'.
       EXISTS (SELECT 1 FROM "AutopilotAction" a
               WHERE a."kind" = 'hold' AND NOT a."dryRun" AND a."endedAt" IS NULL
                 AND (a."scopeKind", a."scopeValue") IN (('sender', m."from"), ('country', m."metadata"->>'country'),
                                                         ('template', m."metadata"->>'templateId'),
                                                         ('org_country', m."orgId" || ':' || (m."metadata"->>'country')))
                 AND m."metadata"->>'autopilotProbe' IS DISTINCT FROM a."id") AS "autopilotHold",
       -- The org's spend caps, if any (service/spend/caps.py decides them under the row lock).
       (SELECT to_jsonb(p) FROM "OrgSpendPolicy" p WHERE p."orgId" = m."orgId") AS "spendPolicy"
FROM "MessageLog" m JOIN "OrgSettings" s ON s."orgId" = m."orgId"
WHERE m."id" = ANY(%(ids)s::text[]);

-- mark_in_flight --
-- The last word before the request to Twilio, in one statement: it commits the in-flight marker
-- with this run's fencing token, and only if this run still owns the send: the message is still
-- unsent, its marker still carries the token this run read (none on a first attempt) and no
-- request was counted since. A run presumed dead that wakes after another took over finds what
-- it read out of date and does not send.
-- An unthrottled org's send is logged here as an instant: a limit set later must see it.
-- One send or several in one statement and one commit (send_writes.py; no two name one
-- message): each row is marked only if what its own run read still holds. Returns the ids
-- marked; a send whose id is missing was superseded or settled.
WITH items AS (
    SELECT * FROM unnest(%(ids)s::text[], %(read_tokens)s::text[], %(read_attempts)s::int[],
                         %(log_sends)s::bool[], %(metadata)s::jsonb[])
        AS i("id", "readToken", "readAttempts", "logSend", "metadata")
), marked AS (
    UPDATE "MessageLog" m SET "metadata" = m."metadata" || i."metadata", "updatedAt" = now()
    FROM items i
    WHERE m."id" = i."id" AND m."direction" = 'outbound' AND m."status" = 'queued' AND m."twilioSid" IS NULL
      AND m."metadata"->'inFlight'->>'token' IS NOT DISTINCT FROM i."readToken"
      AND coalesce((m."metadata"->>'attempts')::int, 0) = i."readAttempts"
    RETURNING m."id", m."orgId", i."logSend"
), logged AS (
    INSERT INTO "SendSlot" ("orgId", "messageId", "at", "doneAt", "planned")
    SELECT "orgId", "id", clock_timestamp(), clock_timestamp(), false FROM marked WHERE "logSend"
)
SELECT "id" FROM marked;

-- record_results --
-- Twilio's answers to one or more sends: update_message for each row (the lattice on its newest
-- version; the sid and metadata kept), in one statement. It is committed without waiting for its
-- WAL flush: losing it to a crash of the server only makes the send's re-run ask Twilio and
-- adopt its copy (service/outbound/send_writes.py says why nothing else can be lost).
-- A result that names its lease's owner also finishes its "SendQueue" row (send_queue_finish's
-- work, in the same commit): a crash loses both or neither, so a lost result always leaves the
-- row to come due again. An owner that no longer holds the lease finishes nothing.
WITH off AS MATERIALIZED (
    SELECT set_config('synchronous_commit', 'off', true) AS "setting"
), items AS (
    SELECT * FROM unnest(%(ids)s::text[], %(statuses)s::text[], %(sids)s::text[], %(metadata)s::jsonb[],
                         %(owners)s::text[])
        AS i("id", "status", "sid", "metadata", "owner")
), mine AS (
    SELECT q."messageId", q."rerunAt" FROM "SendQueue" q JOIN items i ON i."id" = q."messageId"
    WHERE q."leaseOwner" = i."owner"
    FOR UPDATE OF q
), rearmed AS (
    UPDATE "SendQueue" q SET "leaseOwner" = NULL, "dueAt" = mine."rerunAt", "rerunAt" = NULL, "claims" = 0
    FROM mine WHERE q."messageId" = mine."messageId" AND mine."rerunAt" IS NOT NULL
), finished AS (
    DELETE FROM "SendQueue" q USING mine WHERE q."messageId" = mine."messageId" AND mine."rerunAt" IS NULL
)
UPDATE "MessageLog" m
SET "status" = CASE WHEN smsrelay_status_should_apply(m."status", i."status") THEN i."status" ELSE m."status" END,
    "twilioSid" = coalesce(m."twilioSid", i."sid"),
    "metadata" = m."metadata" || CASE
        WHEN NOT smsrelay_status_should_apply(m."status", i."status")
            THEN i."metadata" - 'twilioErrorCode' - 'twilioErrorMessage'
        WHEN m."metadata"->>'outcome' = 'unknown' AND i."status" <> 'queued'
            THEN '{"outcome": null, "hold": null, "inFlight": null, "failedChecks": null}'::jsonb || i."metadata"
        ELSE i."metadata" END,
    "sentAt" = CASE WHEN (CASE WHEN smsrelay_status_should_apply(m."status", i."status") THEN i."status" ELSE m."status" END)
                         IN ('sent', 'delivered', 'undelivered', 'read') THEN coalesce(m."sentAt", now()) ELSE m."sentAt" END,
    "finalAt" = CASE WHEN smsrelay_status_is_final(CASE WHEN smsrelay_status_should_apply(m."status", i."status") THEN i."status" ELSE m."status" END)
                     THEN coalesce(m."finalAt", now()) ELSE m."finalAt" END,
    "updatedAt" = now()
FROM items i, off
WHERE m."id" = i."id"
RETURNING m."id";

-- ==== adopting a crashed send ====

-- rival_unsettled_sends --
-- Another message of the org, not yet settled, with the same text to the same person that may
-- have reached Twilio: a copy found for one of them could be the other's.
SELECT 1 AS "rival" FROM "MessageLog"
WHERE "orgId" = %(org_id)s AND "to" = %(to)s AND "content" = %(content)s AND "id" <> %(id)s
  AND "direction" = 'outbound' AND "status" = 'queued' AND "twilioSid" IS NULL
  AND ("metadata" ? 'inFlight' AND jsonb_typeof("metadata"->'inFlight') = 'object'
       OR "metadata"->>'outcome' = 'unknown')
LIMIT 1;

-- retry_still_failing --
-- The scopes (org, sender, destination country, code) where a code to retry failed in the last
-- %(within)s seconds and nothing of that scope created after the failure got through
-- (delivered, or sent on): re-sending there now would fail again. Range scans of recent minutes.
WITH failing AS (
    SELECT "orgId", coalesce("from", '') AS sender, coalesce("metadata"->>'country', '') AS country,
           "metadata"->>'twilioErrorCode' AS code, max("createdAt") AS last_at
    FROM "MessageLog"
    WHERE "direction" = 'outbound' AND "status" IN ('failed', 'undelivered')
      AND "createdAt" > now() - make_interval(secs => %(within)s)
      AND "metadata"->>'twilioErrorCode' = ANY(%(codes)s)
      AND (%(org_id)s::text IS NULL OR "orgId" = %(org_id)s)
    GROUP BY 1, 2, 3, 4
)
SELECT f."orgId", f.sender, f.country, f.code, f.last_at,
       extract(epoch FROM now() - f.last_at)::float AS age_s
FROM failing f
WHERE NOT EXISTS (
    SELECT 1 FROM "MessageLog" m
    WHERE m."direction" = 'outbound' AND m."createdAt" > f.last_at
      AND m."orgId" = f."orgId" AND coalesce(m."from", '') = f.sender
      AND m."status" IN ('delivered', 'sent')
      AND coalesce(m."metadata"->>'country', '') = f.country
);
