-- ==== an org's own opt-out list and API keys (web/api_optouts.py, web/api_keys.py) ====

-- list_org_opt_outs --
-- By number, a page at a time after the previous page's last number: the primary key's order, so
-- a page of a large list reads only its own rows.
SELECT "phone", "source", "createdAt" FROM "OptOut"
WHERE "orgId" = %(org_id)s AND (%(after_phone)s::text IS NULL OR "phone" > %(after_phone)s::text)
ORDER BY "phone"
LIMIT %(limit)s;

-- add_org_opt_out --
-- The row, new or the one already there ("created" says which): adding twice is not an error.
WITH added AS (
    INSERT INTO "OptOut" ("orgId", "phone", "source") VALUES (%(org_id)s, %(phone)s, %(source)s)
    ON CONFLICT DO NOTHING
    RETURNING "phone", "source", "createdAt", true AS "created"
)
SELECT * FROM added
UNION ALL
SELECT "phone", "source", "createdAt", false FROM "OptOut"
WHERE "orgId" = %(org_id)s AND "phone" = %(phone)s AND NOT EXISTS (SELECT FROM added);

-- remove_org_opt_out --
DELETE FROM "OptOut" WHERE "orgId" = %(org_id)s AND "phone" = %(phone)s RETURNING "phone";

-- revoke_own_api_key --
-- An org's key, revoked unless it is the org's last active one. The org's active keys are locked
-- first, so two requests revoking an org's last two keys at once cannot both succeed (the second
-- waits, then counts what the first left). "revoked" is null when there is no such active key.
WITH active AS (
    SELECT "id" FROM "ApiKey" WHERE "orgId" = %(org_id)s AND "revokedAt" IS NULL FOR UPDATE
), target AS (
    SELECT "id" FROM active WHERE "id" = %(id)s
), revoked AS (
    UPDATE "ApiKey" SET "revokedAt" = now()
    WHERE "id" IN (SELECT "id" FROM target) AND (SELECT count(*) FROM active) > 1
    RETURNING "id"
)
SELECT EXISTS (SELECT FROM target) AS "found", EXISTS (SELECT FROM revoked) AS "revoked";
