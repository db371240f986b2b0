-- The incident autopilot (service/operations/autopilot*.py): what it reads of the failures, and
-- its "AutopilotAction" rows. Every write of an action runs after set_actor: its trigger audits it.

-- autopilot_failures --
-- Failures in the window, final and still retrying, by code and where they are. A failure's time
-- is when it failed (its "finalAt"; for one still retrying, its first attempt for the onset and
-- its latest error for last seen): a later write (a retry's "retriedBy") must not make a
-- cleared cause look live again, nor a retry move its onset.
SELECT CASE WHEN "status" IN ('failed', 'undelivered') THEN "metadata"->>'twilioErrorCode'
            ELSE "metadata"->'lastError'->>'code' END AS code,
       CASE WHEN "status" IN ('failed', 'undelivered') THEN NULL
            ELSE ("metadata"->'lastError'->>'httpStatus')::int END AS http_status,
       "status" NOT IN ('failed', 'undelivered') AS transient,
       "orgId", "from", "metadata"->>'country' AS country, "metadata"->>'templateId' AS template,
       count(*)::int AS count,
       min(CASE WHEN "status" IN ('failed', 'undelivered') THEN coalesce("finalAt", "updatedAt")
                ELSE coalesce(("metadata"->>'firstAttemptAt')::timestamptz, "createdAt") END) AS first_at,
       max(CASE WHEN "status" IN ('failed', 'undelivered') THEN coalesce("finalAt", "updatedAt")
                ELSE coalesce(("metadata"->'lastError'->>'at')::timestamptz, "updatedAt") END) AS last_at
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "createdAt" > %(since)s
  AND ("status" IN ('failed', 'undelivered')
       OR "status" IN ('queued', 'sending', 'accepted', 'scheduled', 'sent')
          AND jsonb_typeof("metadata"->'lastError') = 'object')
GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- autopilot_new_failures --
-- Failures with the cause's codes of messages that were accepted after the mitigation (with a
-- grace for those already on their way): what "the failures stop growing" is measured on.
SELECT count(*)::int AS n FROM "MessageLog"
WHERE "direction" = 'outbound' AND "createdAt" > %(after)s
  AND ("status" IN ('failed', 'undelivered') AND "metadata"->>'twilioErrorCode' = ANY(%(codes)s)
       OR "status" = 'queued' AND "metadata"->'lastError'->>'code' = ANY(%(codes)s));

-- autopilot_still_retrying --
-- An org's messages that are still waiting to be sent again after one of the cause's codes (a
-- throttle's backlog): lifting the throttle before they went out would let them out at once.
SELECT count(*)::int AS n FROM "MessageLog"
WHERE "orgId" = %(org_id)s AND "direction" = 'outbound' AND "createdAt" >= %(since)s::timestamptz - interval '1 minute'
  AND "status" = 'queued' AND "metadata"->'lastError'->>'code' = ANY(%(codes)s);

-- autopilot_insert_action --
INSERT INTO "AutopilotAction" ("id", "cause", "kind", "scopeKind", "scopeValue", "orgId", "dryRun", "state",
                               "reason", "widened", "details")
VALUES (%(id)s, %(cause)s, %(kind)s, %(scope_kind)s, %(scope_value)s, %(org_id)s, %(dry_run)s, %(state)s,
        %(reason)s, %(widened)s, %(details)s)
RETURNING *;

-- autopilot_update_action --
-- Moves an action on; `end` closes it (a hold stops holding from the next send on), once: a
-- second ending (a person's undo racing the autopilot's release) finds no row.
UPDATE "AutopilotAction"
SET "state" = %(state)s, "details" = "details" || %(details)s, "updatedAt" = now(),
    "probeMessageId" = coalesce(%(probe)s, "probeMessageId"),
    "endedAt" = CASE WHEN %(end)s THEN coalesce("endedAt", now()) ELSE "endedAt" END,
    "endedBy" = CASE WHEN %(end)s THEN coalesce("endedBy", %(ended_by)s) ELSE "endedBy" END
WHERE "id" = %(id)s AND ("endedAt" IS NULL OR NOT %(end)s)
RETURNING *;

-- autopilot_action --
SELECT * FROM "AutopilotAction" WHERE "id" = %(id)s;

-- autopilot_open_actions --
-- Not yet ended, and closed ones whose incident report is still to be written.
SELECT * FROM "AutopilotAction" WHERE "endedAt" IS NULL OR "state" = 'released'
ORDER BY "createdAt", "id";

-- autopilot_recent_actions --
SELECT * FROM "AutopilotAction" WHERE "createdAt" > now() - make_interval(secs => %(seconds)s)
ORDER BY "createdAt" DESC, "id" DESC
LIMIT %(limit)s;

-- autopilot_cause_history --
-- What the autopilot did about one cause since a moment (its onset, or the switch's last change).
SELECT "scopeKind", "widened", "state", "endedBy", "endedAt", "dryRun" FROM "AutopilotAction"
WHERE "cause" = %(cause)s AND "createdAt" >= %(since)s
ORDER BY "createdAt", "id";

-- autopilot_actions_last_hour --
SELECT count(*)::int AS n FROM "AutopilotAction"
WHERE NOT "dryRun" AND "createdAt" > now() - interval '1 hour';

-- autopilot_probe_candidate --
-- The oldest message the action holds: what it lets through as its probe.
SELECT m."id" FROM "MessageLog" m
WHERE m."direction" = 'outbound' AND m."status" = 'queued' AND m."twilioSid" IS NULL
  AND jsonb_typeof(m."metadata"->'hold') = 'object'
  AND m."metadata"->'hold'->>'reason' = %(reason)s
  AND (%(scope_kind)s = 'all'
       OR %(scope_kind)s = 'org' AND m."orgId" = %(scope_value)s
       OR %(scope_kind)s = 'sender' AND m."from" = %(scope_value)s
       OR %(scope_kind)s = 'country' AND m."metadata"->>'country' = %(scope_value)s
       OR %(scope_kind)s = 'template' AND m."metadata"->>'templateId' = %(scope_value)s)
ORDER BY m."createdAt", m."id"
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- autopilot_probe_status --
SELECT "status", "metadata"->>'twilioErrorCode' AS code, "metadata"->'lastError'->>'code' AS last_code
FROM "MessageLog" WHERE "id" = %(id)s;

-- autopilot_releasable --
-- Messages the autopilot held that no live hold of its covers any more, oldest first; each is
-- released once (its hold cleared in the transaction that enqueues its send).
SELECT m."id" FROM "MessageLog" m
WHERE m."direction" = 'outbound' AND m."status" = 'queued' AND m."twilioSid" IS NULL
  AND jsonb_typeof(m."metadata"->'hold') = 'object' AND m."metadata"->'hold'->>'reason' = 'autopilot'
  AND NOT EXISTS (SELECT 1 FROM "AutopilotAction" a
                  WHERE a."kind" = 'hold' AND NOT a."dryRun" AND a."endedAt" IS NULL
                    AND (a."scopeKind", a."scopeValue") IN (('sender', m."from"), ('country', m."metadata"->>'country'),
                                                            ('template', m."metadata"->>'templateId'),
                                                         ('org_country', m."orgId" || ':' || (m."metadata"->>'country'))))
ORDER BY m."createdAt", m."id"
LIMIT %(limit)s
FOR UPDATE OF m SKIP LOCKED;

-- autopilot_held_count --
SELECT count(*)::int AS n FROM "MessageLog" m
WHERE m."direction" = 'outbound' AND m."status" = 'queued' AND jsonb_typeof(m."metadata"->'hold') = 'object'
  AND m."metadata"->'hold'->>'reason' = %(reason)s
  AND (%(scope_kind)s = 'all'
       OR %(scope_kind)s = 'org' AND m."orgId" = %(scope_value)s
       OR %(scope_kind)s = 'sender' AND m."from" = %(scope_value)s
       OR %(scope_kind)s = 'country' AND m."metadata"->>'country' = %(scope_value)s
       OR %(scope_kind)s = 'template' AND m."metadata"->>'templateId' = %(scope_value)s
       OR %(scope_kind)s = 'org_country' AND m."orgId" || ':' || (m."metadata"->>'country') = %(scope_value)s);
