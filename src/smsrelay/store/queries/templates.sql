-- Message templates (service/templates): an org's named bodies and their versions, sending by
-- template, the template hold, and what diagnosis and the report read about them.

-- ==== templates and versions ====

-- insert_template --
-- A new name, or nothing (the name is taken: the caller answers 409).
INSERT INTO "MessageTemplate" ("id", "orgId", "name", "version")
VALUES (%(id)s, %(org_id)s, %(name)s, 1)
ON CONFLICT ("orgId", "name") DO NOTHING
RETURNING "id";

-- insert_template_version --
INSERT INTO "MessageTemplateVersion" ("templateId", "version", "body", "lint", "whatsapp", "createdBy")
VALUES (%(template_id)s, %(version)s, %(body)s, %(lint)s, %(whatsapp)s, %(created_by)s);

-- bump_template_version --
-- Under the row lock (lock_template): two edits at once get versions n+1 and n+2, never one twice.
UPDATE "MessageTemplate" SET "version" = "version" + 1, "updatedAt" = now()
WHERE "id" = %(id)s
RETURNING "version";

-- lock_template --
SELECT "id", "version", "archivedAt", "disabled" FROM "MessageTemplate"
WHERE "orgId" = %(org_id)s AND "name" = %(name)s
FOR UPDATE;

-- get_template --
-- The template as it is now, with its current version's body and check.
SELECT t."id", t."orgId", t."name", t."version", t."archivedAt", t."disabled", t."createdAt", t."updatedAt",
       v."body", v."lint", v."whatsapp"
FROM "MessageTemplate" t
JOIN "MessageTemplateVersion" v ON v."templateId" = t."id" AND v."version" = t."version"
WHERE t."orgId" = %(org_id)s AND t."name" = %(name)s;

-- list_templates --
SELECT t."id", t."orgId", t."name", t."version", t."archivedAt", t."disabled", t."createdAt", t."updatedAt",
       v."body", v."lint", v."whatsapp"
FROM "MessageTemplate" t
JOIN "MessageTemplateVersion" v ON v."templateId" = t."id" AND v."version" = t."version"
WHERE t."orgId" = %(org_id)s AND (%(archived)s OR t."archivedAt" IS NULL)
ORDER BY t."name"
LIMIT %(limit)s;

-- template_versions --
SELECT "version", "body", "lint", "whatsapp", "createdBy", "createdAt" FROM "MessageTemplateVersion"
WHERE "templateId" = %(template_id)s
ORDER BY "version" DESC
LIMIT %(limit)s;

-- set_template_archived --
UPDATE "MessageTemplate"
SET "archivedAt" = CASE WHEN %(archived)s THEN coalesce("archivedAt", now()) END, "updatedAt" = now()
WHERE "id" = %(id)s
RETURNING "archivedAt";

-- set_template_disabled --
-- The template hold (service/templates/hold.py): NULL lifts it.
UPDATE "MessageTemplate" SET "disabled" = %(disabled)s, "updatedAt" = now()
WHERE "id" = %(id)s
RETURNING "disabled";

-- template_held_count --
SELECT count(*)::int AS "count" FROM "MessageLog"
WHERE "orgId" = %(org_id)s AND "direction" = 'outbound' AND "status" = 'queued'
  AND jsonb_typeof("metadata"->'hold') = 'object'
  AND "metadata"->'hold'->>'reason' = 'template_disabled' AND "metadata"->>'templateId' = %(template_id)s;

-- ==== diagnosis and the report ====

-- template_failures --
-- Failures in the window by the template (and version) they were sent from, for the given codes;
-- messages without a template count under NULL, so a template's share is of all the failures.
SELECT "orgId", "metadata"->>'templateId' AS "templateId",
       ("metadata"->>'templateVersion')::int AS "version", count(*)::int AS "count"
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
  AND "status" IN ('failed', 'undelivered') AND "metadata"->>'twilioErrorCode' = ANY(%(codes)s)
GROUP BY 1, 2, 3
ORDER BY 4 DESC
LIMIT 200;

-- template_sent --
-- Everything sent from one template in the window, for its failure rate.
SELECT count(*)::int AS "total" FROM "MessageLog"
WHERE "direction" = 'outbound' AND "orgId" = %(org_id)s AND "createdAt" > %(since)s AND "createdAt" <= %(until)s
  AND "metadata"->>'templateId' = %(template_id)s;

-- template_by_id --
SELECT t."id", t."orgId", t."name", t."version", t."archivedAt", t."disabled", v."version" AS "usedVersion",
       v."body", v."lint"
FROM "MessageTemplate" t
JOIN "MessageTemplateVersion" v ON v."templateId" = t."id" AND v."version" = %(version)s
WHERE t."id" = %(id)s;
