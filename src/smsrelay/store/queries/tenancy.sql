-- Orgs and what they own or have set (service/tenancy: orgs.py, api_limits.py, org_policy.py,
-- mitigations.py): numbers, API keys and their per-minute limit, policy, opt-outs, the
-- system-wide settings, and the audit trail every settings change writes.

-- ==== audit ====

-- set_actor --
-- Names who makes the following writes in this transaction, for the audit trigger.
SELECT set_config('smsrelay.actor', %(actor)s, true), set_config('smsrelay.reason', coalesce(%(reason)s, ''), true);

-- insert_audit --
INSERT INTO "AuditLog" ("tableName", "orgId", "action", "actor", "reason", "before", "after")
VALUES (%(table_name)s, %(org_id)s, %(action)s, %(actor)s, %(reason)s, %(before)s, %(after)s);

-- ==== orgs and numbers ====

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

-- get_org --
SELECT o.*, s."smsDisabled", s."maxMessagesPerMinute", s."defaultRegion", s."inboundWebhookUrl",
       s."inboundWebhookSecret", s."helpText", s."contentPolicy", s."landlinePolicy",
       s."allowedCountries", s."validityPeriodSeconds", s."dailySendCap"
FROM "Org" o JOIN "OrgSettings" s ON s."orgId" = o."id"
WHERE o."id" = %(org_id)s;

-- org_for_send --
-- get_org plus its senders (as org_senders orders them), in one round trip for the send path.
SELECT o.*, s."smsDisabled", s."mmsDisabled", s."whatsappDisabled", s."maxMessagesPerMinute",
       s."defaultRegion", s."inboundWebhookUrl",
       s."inboundWebhookSecret", s."helpText", s."contentPolicy", s."landlinePolicy",
       s."allowedCountries", s."validityPeriodSeconds", s."dailySendCap",
       (SELECT coalesce(jsonb_agg(jsonb_build_object('number', p."number", 'messagingServiceSid',
                                                     p."messagingServiceSid", 'kind', p."kind")
                                  ORDER BY p."isDefault" DESC, p."createdAt"), '[]'::jsonb)
        FROM "PhoneNumber" p WHERE p."orgId" = o."id") AS senders
FROM "Org" o JOIN "OrgSettings" s ON s."orgId" = o."id"
WHERE o."id" = %(org_id)s;

-- list_orgs --
SELECT o."id", o."name", o."createdAt", s."smsDisabled", s."mmsDisabled", s."whatsappDisabled", s."maxMessagesPerMinute"
FROM "Org" o JOIN "OrgSettings" s ON s."orgId" = o."id"
ORDER BY o."createdAt";

-- org_senders --
SELECT "number", "messagingServiceSid", "kind" FROM "PhoneNumber"
WHERE "orgId" = %(org_id)s
ORDER BY "isDefault" DESC, "createdAt";

-- org_by_number --
SELECT p."orgId", p."number" FROM "PhoneNumber" p WHERE p."number" = %(number)s;

-- org_exists --
SELECT "id" FROM "Org" WHERE "id" = %(org_id)s;

-- ==== API keys and limits ====

-- insert_api_key --
INSERT INTO "ApiKey" ("id", "orgId", "keyHash", "prefix", "name")
VALUES (%(id)s, %(org_id)s, %(key_hash)s, %(prefix)s, %(name)s)
RETURNING "id", "orgId", "prefix", "name", "createdAt";

-- authenticate_and_count --
-- The key (unknown or revoked: no row) and this request counted against its minute, in one
-- round trip: every API request but a single send pays it (accept_message counts its own).
-- The minute is the sum of the key's counter shards (api_limits.py says why there are several).
WITH k AS (
    SELECT "id", "orgId" FROM "ApiKey" WHERE "keyHash" = %(key_hash)s AND "revokedAt" IS NULL
), counted AS (
    INSERT INTO "RateCounter" ("key", "window", "count")
    SELECT 'api:' || k."id" || %(shard)s, %(window)s, 1 FROM k
    ON CONFLICT ("key", "window") DO UPDATE SET "count" = "RateCounter"."count" + 1
    RETURNING "count"
)
SELECT k."id", k."orgId",
       counted."count" + (SELECT coalesce(sum(r."count"), 0) FROM "RateCounter" r
                          WHERE r."key" IN (SELECT 'api:' || k."id" || o FROM unnest(%(other_shards)s::text[]) o)
                            AND r."window" = %(window)s)::int AS "count"
FROM k, counted;

-- api_key_by_hash --
-- What the API process caches per key (service/tenancy/cache.py); the accept statement checks
-- the key again, so a revocation is never missed.
SELECT "id", "orgId" FROM "ApiKey" WHERE "keyHash" = %(key_hash)s AND "revokedAt" IS NULL;

-- listen_tenancy --
-- The API process's cache listener (service/tenancy/cache.py); migration 0014 notifies it.
LISTEN smsrelay_tenancy;

-- tenancy_listener_ping --
-- A quiet listener asks now and then, so a silently lost connection is noticed.
SELECT 1 AS "alive";

-- list_api_keys --
SELECT "id", "prefix", "name", "createdAt", "revokedAt" FROM "ApiKey"
WHERE "orgId" = %(org_id)s ORDER BY "createdAt";

-- revoke_org_api_key --
UPDATE "ApiKey" SET "revokedAt" = now()
WHERE "id" = %(id)s AND "orgId" = %(org_id)s AND "revokedAt" IS NULL
RETURNING "id";

-- ==== policy and mitigations ====

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

-- mitigate_org_disabled --
-- The audit trigger records it; the caller has named the actor with set_actor.
UPDATE "OrgSettings" SET "smsDisabled" = %(disabled)s WHERE "orgId" = %(org_id)s
RETURNING "orgId", "smsDisabled", "maxMessagesPerMinute";

-- mitigate_org_rate --
UPDATE "OrgSettings" SET "maxMessagesPerMinute" = %(per_minute)s WHERE "orgId" = %(org_id)s
RETURNING "orgId", "smsDisabled", "maxMessagesPerMinute";

-- ==== opt-outs ====

-- is_opted_out --
SELECT 1 AS opted_out FROM "OptOut" WHERE "orgId" = %(org_id)s AND "phone" = %(phone)s;

-- batch_opted_out --
-- is_opted_out for a whole batch (POST /v1/messages:batch): one query, not one per recipient.
SELECT "phone" FROM "OptOut" WHERE "orgId" = %(org_id)s AND "phone" = ANY(%(phones)s::text[]);

-- insert_opt_out --
INSERT INTO "OptOut" ("orgId", "phone", "source") VALUES (%(org_id)s, %(phone)s, %(source)s)
ON CONFLICT DO NOTHING;

-- delete_opt_out --
DELETE FROM "OptOut" WHERE "orgId" = %(org_id)s AND "phone" = %(phone)s;

-- ==== system settings ====

-- get_system_setting --
SELECT "value" FROM "SystemSetting" WHERE "key" = %(key)s;

-- put_system_setting --
INSERT INTO "SystemSetting" ("key", "value") VALUES (%(key)s, %(value)s)
ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value", "updatedAt" = now();

-- any_org --
-- Whether the database an operator's command opened holds any org at all (cli/database_said.py).
SELECT EXISTS (SELECT 1 FROM "Org") AS "present";

-- orgs_by_id_or_name --
-- An operator names an org by its id or its name (case and surrounding spaces ignored).
SELECT o."id", o."name" FROM "Org" o
WHERE o."id" = %(ref)s OR lower(btrim(o."name")) = lower(btrim(%(ref)s))
ORDER BY o."id" = %(ref)s DESC, o."createdAt"
LIMIT 20;

-- list_orgs_overview --
-- `smsrelay org list`: every org with its senders, its mitigations and its live keys.
SELECT o."id", o."name", o."createdAt", s."smsDisabled", s."maxMessagesPerMinute", s."defaultRegion",
       (SELECT coalesce(jsonb_agg(coalesce(p."number", p."messagingServiceSid") ORDER BY p."isDefault" DESC,
                                  p."createdAt"), '[]'::jsonb)
        FROM "PhoneNumber" p WHERE p."orgId" = o."id") AS "senders",
       (SELECT count(*) FROM "ApiKey" k WHERE k."orgId" = o."id" AND k."revokedAt" IS NULL) AS "activeKeys"
FROM "Org" o JOIN "OrgSettings" s ON s."orgId" = o."id"
ORDER BY o."createdAt", o."id";
