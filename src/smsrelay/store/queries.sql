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

-- find_api_key --
SELECT k."id", k."orgId" FROM "ApiKey" k
WHERE k."keyHash" = %(key_hash)s AND k."revokedAt" IS NULL;

-- revoke_api_key --
UPDATE "ApiKey" SET "revokedAt" = now() WHERE "id" = %(id)s AND "revokedAt" IS NULL;

-- get_org --
SELECT o.*, s."smsDisabled", s."maxMessagesPerMinute", s."defaultRegion", s."inboundWebhookUrl",
       s."inboundWebhookSecret", s."helpText", s."contentPolicy", s."landlinePolicy",
       s."allowedCountries", s."validityPeriodSeconds", s."dailySendCap"
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

-- insert_outbound --
INSERT INTO "MessageLog" ("id", "orgId", "channel", "direction", "status", "from", "to", "content",
                          "segments", "encoding", "metadata")
VALUES (%(id)s, %(org_id)s, 'sms', 'outbound', 'queued', %(from_)s, %(to)s, %(content)s,
        %(segments)s, %(encoding)s, %(metadata)s)
RETURNING *;

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
SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(
    %(queue)s, %(task)s, 0, NULL, NULL, %(args)s, %(scheduled_at)s
)]::procrastinate_job_to_defer_v1[])) AS id;

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
-- Held messages whose guard has lifted, plus any held past its validity (the job expires it).
SELECT m."id" FROM "MessageLog" m JOIN "OrgSettings" s ON s."orgId" = m."orgId"
WHERE m."direction" = 'outbound' AND m."status" = 'queued' AND m."twilioSid" IS NULL
  AND jsonb_typeof(m."metadata"->'hold') = 'object'
  AND (NOT s."smsDisabled" OR m."createdAt" < now() - make_interval(secs => s."validityPeriodSeconds"))
ORDER BY m."createdAt", m."id"
LIMIT %(limit)s
FOR UPDATE OF m SKIP LOCKED;

-- stale_open_messages --
-- Sent to Twilio but with no final status after a while: callbacks can be lost.
SELECT "id", "twilioSid", "status" FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" IN ('queued', 'sending', 'accepted', 'scheduled', 'sent')
  AND "twilioSid" IS NOT NULL AND "createdAt" < now() - make_interval(secs => %(older_than)s)
  AND "createdAt" > now() - interval '3 days'
ORDER BY "createdAt"
LIMIT %(limit)s;
