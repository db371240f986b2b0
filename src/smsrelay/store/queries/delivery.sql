-- What Twilio tells us after the send (service/delivery: status_callbacks.py,
-- status_updates.py, reconcile.py, inbound.py): status callbacks and their events, the
-- reconciler's stale messages, inbound messages.

-- ==== status callbacks ====

-- apply_status_callback --
-- One callback in one statement, in today's lock order (message, event, opt-out). The row is
-- the URL's message while its sid is unset or the callback's, else the one with that sid;
-- FOR UPDATE under READ COMMITTED locks and re-checks its newest version, so "before" is the
-- status the lattice is applied to. The event is stored once (a retry carries the same token,
-- a duplicate the same sid and status); only a newly stored event touches the message.
WITH by_id AS MATERIALIZED (
    SELECT "id", "status" FROM "MessageLog"
    WHERE "id" = %(message_id)s AND ("twilioSid" IS NULL OR "twilioSid" = %(sid)s)
    FOR UPDATE
), by_sid AS MATERIALIZED (
    SELECT "id", "status" FROM "MessageLog"
    WHERE "twilioSid" = %(sid)s AND NOT EXISTS (SELECT FROM by_id)
    FOR UPDATE
), target AS (
    SELECT "id", "status" FROM by_id UNION ALL SELECT "id", "status" FROM by_sid
), stored AS (
    INSERT INTO "MessageEvent" ("messageId", "twilioSid", "status", "errorCode", "idempotencyToken", "payload")
    VALUES ((SELECT "id" FROM target), %(sid)s, %(status)s, %(error_code)s, %(token)s, %(payload)s)
    ON CONFLICT DO NOTHING
    RETURNING "id"
), updated AS (
    UPDATE "MessageLog" m
    SET "status" = CASE WHEN smsrelay_status_should_apply(m."status", %(status)s) THEN %(status)s ELSE m."status" END,
        "twilioSid" = coalesce(m."twilioSid", %(sid)s),
        "metadata" = m."metadata" || CASE
            WHEN NOT smsrelay_status_should_apply(m."status", %(status)s)
                THEN %(metadata)s::jsonb - 'twilioErrorCode' - 'twilioErrorMessage'
            WHEN m."metadata"->>'outcome' = 'unknown' AND %(status)s <> 'queued'
                THEN '{"outcome": null, "hold": null, "inFlight": null, "failedChecks": null}'::jsonb || %(metadata)s::jsonb
            ELSE %(metadata)s::jsonb END,
        "sentAt" = CASE WHEN (CASE WHEN smsrelay_status_should_apply(m."status", %(status)s) THEN %(status)s ELSE m."status" END)
                             IN ('sent', 'delivered', 'undelivered', 'read') THEN coalesce(m."sentAt", now()) ELSE m."sentAt" END,
        "finalAt" = CASE WHEN smsrelay_status_is_final(CASE WHEN smsrelay_status_should_apply(m."status", %(status)s) THEN %(status)s ELSE m."status" END)
                         THEN coalesce(m."finalAt", now()) ELSE m."finalAt" END,
        "updatedAt" = now()
    FROM target t
    WHERE m."id" = t."id" AND EXISTS (SELECT FROM stored)
    RETURNING m."orgId", m."to", m."status", t."status" AS "before"
), opted_out AS (
    INSERT INTO "OptOut" ("orgId", "phone", "source")
    SELECT "orgId", "to", 'twilio:21610' FROM updated WHERE "status" = %(status)s AND %(error_code)s = '21610'
    ON CONFLICT DO NOTHING
)
SELECT EXISTS (SELECT FROM stored) AS "stored", EXISTS (SELECT FROM target) AS "found",
       coalesce((SELECT smsrelay_status_should_apply("before", %(status)s) FROM updated), false) AS "applied";

-- apply_status_callbacks --
-- apply_status_callback for several callbacks in one statement (one round trip, one commit),
-- each as if alone: the caller never passes two that can name the same message (their ids and
-- sids are distinct). Rows are locked in id order and NOWAIT: a batch never queues behind a
-- held row lock (its callbacks are then applied one by one, each waiting only for its own row).
WITH items AS (
    -- In binary (the "b" placeholders), as insert_outbound_with_jobs: quoting the payloads into
    -- text array literals was a tenth of the API's CPU on the callback route (py-spy).
    SELECT * FROM unnest(%(message_ids)b::text[], %(sids)b::text[], %(statuses)b::text[], %(error_codes)b::text[],
                         %(tokens)b::text[], %(payloads)b::jsonb[], %(metadata)b::jsonb[])
        WITH ORDINALITY AS i("messageId", "sid", "status", "errorCode", "token", "payload", "metadata", "n")
), by_id AS MATERIALIZED (
    SELECT i."n", m."id", m."status" FROM items i
    JOIN "MessageLog" m ON m."id" = i."messageId" AND (m."twilioSid" IS NULL OR m."twilioSid" = i."sid")
    ORDER BY m."id"
    FOR UPDATE OF m NOWAIT
), by_sid AS MATERIALIZED (
    SELECT i."n", m."id", m."status" FROM items i
    JOIN "MessageLog" m ON m."twilioSid" = i."sid"
    WHERE i."n" NOT IN (SELECT "n" FROM by_id)
    ORDER BY m."id"
    FOR UPDATE OF m NOWAIT
), target AS (
    SELECT * FROM by_id UNION ALL SELECT * FROM by_sid
), stored AS (
    INSERT INTO "MessageEvent" ("messageId", "twilioSid", "status", "errorCode", "idempotencyToken", "payload")
    SELECT t."id", i."sid", i."status", i."errorCode", i."token", i."payload"
    FROM items i LEFT JOIN target t ON t."n" = i."n"
    ORDER BY i."sid", i."status"
    ON CONFLICT DO NOTHING
    RETURNING "twilioSid", "status"
), updated AS (
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
    FROM target t JOIN items i ON i."n" = t."n"
    WHERE m."id" = t."id" AND EXISTS (SELECT FROM stored s WHERE s."twilioSid" = i."sid" AND s."status" = i."status")
    RETURNING t."n", m."orgId", m."to", m."status", t."status" AS "before"
), opted_out AS (
    INSERT INTO "OptOut" ("orgId", "phone", "source")
    SELECT u."orgId", u."to", 'twilio:21610' FROM updated u JOIN items i ON i."n" = u."n"
    WHERE u."status" = i."status" AND i."errorCode" = '21610'
    ORDER BY u."orgId", u."to"
    ON CONFLICT DO NOTHING
)
SELECT EXISTS (SELECT FROM stored s WHERE s."twilioSid" = i."sid" AND s."status" = i."status") AS "stored",
       EXISTS (SELECT FROM target t WHERE t."n" = i."n") AS "found",
       coalesce((SELECT smsrelay_status_should_apply(u."before", i."status") FROM updated u WHERE u."n" = i."n"), false) AS "applied"
FROM items i
ORDER BY i."n";

-- update_message --
-- The lattice applied in the statement itself: under READ COMMITTED an UPDATE that meets a
-- newer committed version of its row re-evaluates SET on that version, so no prior lock is
-- needed and concurrent writers never lower a status. The sid and metadata are kept even when
-- the status does not apply, except the error of a status that did not; Twilio speaking about
-- the message settles an unknown outcome.
UPDATE "MessageLog"
SET "status" = CASE WHEN smsrelay_status_should_apply("status", %(status)s) THEN %(status)s ELSE "status" END,
    "twilioSid" = coalesce("twilioSid", %(twilio_sid)s),
    "metadata" = "metadata" || CASE
        WHEN NOT smsrelay_status_should_apply("status", %(status)s)
            THEN %(metadata)s::jsonb - 'twilioErrorCode' - 'twilioErrorMessage'
        WHEN "metadata"->>'outcome' = 'unknown' AND %(status)s <> 'queued'
            THEN '{"outcome": null, "hold": null, "inFlight": null, "failedChecks": null}'::jsonb || %(metadata)s::jsonb
        ELSE %(metadata)s::jsonb END,
    "sentAt" = CASE WHEN (CASE WHEN smsrelay_status_should_apply("status", %(status)s) THEN %(status)s ELSE "status" END)
                         IN ('sent', 'delivered', 'undelivered', 'read') THEN coalesce("sentAt", now()) ELSE "sentAt" END,
    "finalAt" = CASE WHEN smsrelay_status_is_final(CASE WHEN smsrelay_status_should_apply("status", %(status)s) THEN %(status)s ELSE "status" END)
                     THEN coalesce("finalAt", now()) ELSE "finalAt" END,
    "updatedAt" = now()
WHERE "id" = %(id)s
RETURNING *;

-- ==== reconcile ====

-- insert_inbound --
INSERT INTO "MessageLog" ("id", "orgId", "channel", "direction", "status", "from", "to", "content",
                          "segments", "encoding", "twilioSid", "metadata")
VALUES (%(id)s, %(org_id)s, %(channel)s, 'inbound', 'received', %(from_)s, %(to)s, %(content)s,
        %(segments)s, %(encoding)s, %(twilio_sid)s, %(metadata)s)
ON CONFLICT ("twilioSid") DO NOTHING
RETURNING *;

-- reconcile_batch --
-- Open messages with a sid and no final status past the age at which a callback should have
-- come. Never checked first, then those checked longest ago, so rows Twilio keeps at `sent`
-- (carriers without delivery reports) go to the back instead of filling every batch; a row
-- checked in this run or within the last `recheck` seconds waits.
SELECT "id", "twilioSid", "status" FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('queued', 'sending', 'accepted', 'scheduled', 'sent')
  AND "twilioSid" IS NOT NULL AND "createdAt" < now() - make_interval(secs => %(older_than)s)
  AND "createdAt" > now() - interval '3 days'
  AND coalesce(("metadata"->>'reconciledAt')::timestamptz, '-infinity')
      < least(%(run_started)s::timestamptz, now() - make_interval(secs => %(recheck)s))
ORDER BY ("metadata"->>'reconciledAt')::timestamptz NULLS FIRST, "createdAt"
LIMIT %(limit)s;

-- unknown_outcome_messages --
-- Held because nobody could say whether Twilio has them (or because what Twilio accepted
-- could not be recorded), least recently looked at first.
SELECT "id" FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" = 'queued' AND "twilioSid" IS NULL
  AND "metadata"->>'outcome' = 'unknown'
ORDER BY "updatedAt"
LIMIT %(limit)s;
