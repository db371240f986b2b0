-- Operators' dashboard login: attempt counts, single-use login forms and sessions
-- (service/operations/operator_sessions.py, web/dashboard/auth.py).

-- count_login_attempt --
-- The attempt counted against its account and its client in one round trip, before the password
-- is checked, so concurrent guesses cannot all slip under the limit.
INSERT INTO "RateCounter" ("key", "window", "count")
VALUES (%(account_key)s, %(window)s, 1), (%(client_key)s, %(window)s, 1)
ON CONFLICT ("key", "window") DO UPDATE SET "count" = "RateCounter"."count" + 1
RETURNING "key", "count";

-- forgive_login_client --
DELETE FROM "RateCounter" WHERE "key" = %(client_key)s;

-- use_login_form --
-- No row: this login form was posted before.
INSERT INTO "DashboardLoginForm" ("nonce") VALUES (%(nonce)s) ON CONFLICT DO NOTHING RETURNING "nonce";

-- forget_used_login_forms --
DELETE FROM "DashboardLoginForm" WHERE "usedAt" < now() - make_interval(secs => %(seconds)s);

-- start_dashboard_session --
INSERT INTO "DashboardSession" ("id", "user", "stamp", "expiresAt")
VALUES (%(id)s, %(user)s, %(stamp)s, now() + make_interval(secs => %(seconds)s));

-- dashboard_session --
-- Every dashboard request: one primary-key lookup. A session logged in under another password
-- is ended the first time it is seen, so changing the password back does not revive it.
WITH s AS (
    SELECT "id", "user", "stamp" FROM "DashboardSession"
    WHERE "id" = %(id)s AND "endedAt" IS NULL AND "expiresAt" > now()
), ended AS (
    UPDATE "DashboardSession" d SET "endedAt" = now(), "endReason" = 'password changed'
    FROM s WHERE d."id" = s."id" AND s."stamp" <> %(stamp)s
    RETURNING d."id"
)
SELECT s."user", s."stamp" = %(stamp)s AS "valid" FROM s;

-- end_dashboard_session --
UPDATE "DashboardSession" SET "endedAt" = now(), "endReason" = %(reason)s
WHERE "id" = %(id)s AND "endedAt" IS NULL;

-- end_sessions_of_other_passwords --
UPDATE "DashboardSession" SET "endedAt" = now(), "endReason" = 'password changed'
WHERE "endedAt" IS NULL AND "stamp" <> %(stamp)s;

-- forget_old_dashboard_sessions --
DELETE FROM "DashboardSession" WHERE "expiresAt" < now() - interval '1 day';
