-- What messages cost (service/spend/): Twilio's price per message and per destination, usage
-- per org, the spend caps' ledger and their holds, and the pumping signal.

-- ==== prices ====

-- unpriced_messages --
-- Final messages Twilio has a sid for and we have no price of, oldest first (MessageLog_unpriced_idx).
-- A message Twilio keeps answering without a price is asked at most 5 times.
SELECT m."id", m."twilioSid", m."metadata"->>'country' AS "country" FROM "MessageLog" m
WHERE m."direction" = 'outbound' AND m."price" IS NULL AND m."twilioSid" IS NOT NULL AND m."finalAt" IS NOT NULL
  AND m."finalAt" < now() - make_interval(secs => %(settle_seconds)s)
  AND coalesce((m."metadata"->>'priceChecks')::int, 0) < 5
ORDER BY m."finalAt" LIMIT %(limit)s;

-- record_prices --
-- Twilio's prices of a batch, in one statement; a NULL price counts one more check instead.
WITH items AS (
    SELECT * FROM unnest(%(ids)s::text[], %(prices)s::numeric[], %(units)s::text[]) AS i("id", "price", "unit")
)
UPDATE "MessageLog" m
SET "price" = i."price", "priceUnit" = CASE WHEN i."price" IS NULL THEN NULL ELSE i."unit" END,
    "metadata" = CASE WHEN i."price" IS NULL
        THEN m."metadata" || jsonb_build_object('priceChecks', coalesce((m."metadata"->>'priceChecks')::int, 0) + 1)
        ELSE m."metadata" END
FROM items i
WHERE m."id" = i."id" AND m."price" IS NULL
RETURNING m."id";

-- countries_to_price --
-- Destinations with no cached price, or one older than a day: of the open messages (a small
-- partial index) and of the given ones (a batch being priced), and every stale cached row.
SELECT c."country" FROM (
    SELECT DISTINCT m."metadata"->>'country' AS "country" FROM "MessageLog" m
    WHERE m."direction" = 'outbound' AND m."status" IN ('queued', 'sending', 'accepted', 'scheduled', 'sent')
    UNION SELECT unnest(%(countries)s::text[])
    UNION SELECT "isoCountry" FROM "DestinationPrice"
) c
LEFT JOIN "DestinationPrice" d ON d."isoCountry" = c."country"
WHERE c."country" ~ '^[A-Z]{2}$' AND (d."isoCountry" IS NULL OR d."fetchedAt" < now() - interval '1 day')
ORDER BY 1 LIMIT 50;

-- upsert_destination_price --
INSERT INTO "DestinationPrice" ("isoCountry", "price", "priceUnit", "fetchedAt")
VALUES (%(iso)s, %(price)s, %(unit)s, now())
ON CONFLICT ("isoCountry") DO UPDATE SET "price" = excluded."price", "priceUnit" = excluded."priceUnit",
                                         "fetchedAt" = excluded."fetchedAt";

-- destination_prices --
SELECT "isoCountry", "price", "priceUnit", "fetchedAt" FROM "DestinationPrice" ORDER BY "isoCountry";

-- destination_price --
SELECT "price", "priceUnit" FROM "DestinationPrice" WHERE "isoCountry" = %(iso)s;

-- ==== usage ====

-- usage_rows --
-- What reached Twilio, by org, day of sending (UTC), destination and channel. Billed is Twilio's
-- price (sign turned: usage is positive), estimated the unpriced ones at segments × the cached
-- destination price (SMS only: the Pricing API's Messaging Countries price SMS). A message that
-- failed at Twilio before a carrier (price 0) is not usage, as Twilio bills nothing for it.
-- Range on "createdAt" padded by a day: a message is sent within its validity (10 h) of accept.
SELECT m."orgId", ((coalesce(m."sentAt", m."createdAt") AT TIME ZONE 'UTC')::date) AS "day",
       coalesce(m."metadata"->>'country', '') AS "country", m."channel",
       count(*)::int AS "messages", sum(m."segments")::int AS "segments",
       coalesce(sum(-m."price"), 0) AS "billed",
       coalesce(sum(m."segments" * d."price") FILTER (WHERE m."price" IS NULL), 0) AS "estimated",
       count(*) FILTER (WHERE m."price" IS NULL)::int AS "unpriced",
       count(*) FILTER (WHERE m."price" IS NULL AND d."price" IS NULL)::int AS "unknown"
FROM "MessageLog" m
LEFT JOIN "DestinationPrice" d ON m."channel" = 'sms' AND d."isoCountry" = m."metadata"->>'country'
WHERE m."direction" = 'outbound' AND m."twilioSid" IS NOT NULL
  AND (%(org_id)s::text IS NULL OR m."orgId" = %(org_id)s)
  AND m."createdAt" >= %(start)s::timestamptz - interval '1 day' AND m."createdAt" < %(end)s
  AND coalesce(m."sentAt", m."createdAt") >= %(start)s AND coalesce(m."sentAt", m."createdAt") < %(end)s
  AND NOT (m."status" IN ('failed', 'canceled') AND coalesce(m."price", 0) = 0)
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4;

-- ==== spend caps ====

-- spend_policy --
SELECT * FROM "OrgSpendPolicy" WHERE "orgId" = %(org_id)s;

-- upsert_spend_policy --
INSERT INTO "OrgSpendPolicy" ("orgId", "dailySpendCap", "monthlySpendCap", "dailySegmentCap", "monthlySegmentCap",
                              "priceCeiling", "updatedAt")
VALUES (%(org_id)s, %(dailySpendCap)s, %(monthlySpendCap)s, %(dailySegmentCap)s, %(monthlySegmentCap)s,
        %(priceCeiling)s, now())
ON CONFLICT ("orgId") DO UPDATE SET "dailySpendCap" = excluded."dailySpendCap",
    "monthlySpendCap" = excluded."monthlySpendCap", "dailySegmentCap" = excluded."dailySegmentCap",
    "monthlySegmentCap" = excluded."monthlySegmentCap", "priceCeiling" = excluded."priceCeiling",
    "updatedAt" = now()
RETURNING *;

-- update_spend_policy --
-- Not the upsert: its BEFORE INSERT trigger would audit an insert that became an update.
UPDATE "OrgSpendPolicy" SET "dailySpendCap" = %(dailySpendCap)s, "monthlySpendCap" = %(monthlySpendCap)s,
    "dailySegmentCap" = %(dailySegmentCap)s, "monthlySegmentCap" = %(monthlySegmentCap)s,
    "priceCeiling" = %(priceCeiling)s, "updatedAt" = now()
WHERE "orgId" = %(org_id)s
RETURNING *;

-- delete_spend_policy --
DELETE FROM "OrgSpendPolicy" WHERE "orgId" = %(org_id)s RETURNING "orgId";

-- seed_spend_days --
-- A new policy counts what the org already sent this month (days it has no ledger row for yet).
INSERT INTO "OrgSpendDay" ("orgId", "day", "segments", "cost")
SELECT m."orgId", (coalesce(m."sentAt", m."createdAt") AT TIME ZONE 'UTC')::date, sum(m."segments"),
       coalesce(sum(coalesce(-m."price", m."segments" * d."price")), 0)
FROM "MessageLog" m
LEFT JOIN "DestinationPrice" d ON d."isoCountry" = m."metadata"->>'country'
WHERE m."orgId" = %(org_id)s AND m."direction" = 'outbound' AND m."twilioSid" IS NOT NULL
  AND m."createdAt" >= %(month)s::timestamptz - interval '1 day'
  AND coalesce(m."sentAt", m."createdAt") >= %(month)s
GROUP BY 1, 2
ON CONFLICT ("orgId", "day") DO NOTHING;

-- spend_lock --
-- One send of an org decided at a time against its caps (only orgs with a policy pay for it).
SELECT pg_advisory_xact_lock(hashtextextended('smsrelay.spend:' || %(org_id)s, 0)) AS locked;

-- spend_used --
SELECT coalesce(sum("segments") FILTER (WHERE "day" = %(day)s), 0)::bigint AS "daySegments",
       coalesce(sum("cost") FILTER (WHERE "day" = %(day)s), 0) AS "dayCost",
       coalesce(sum("segments"), 0)::bigint AS "monthSegments", coalesce(sum("cost"), 0) AS "monthCost"
FROM "OrgSpendDay" WHERE "orgId" = %(org_id)s AND "day" >= %(month)s AND "day" <= %(day)s;

-- spend_add --
INSERT INTO "OrgSpendDay" ("orgId", "day", "segments", "cost") VALUES (%(org_id)s, %(day)s, %(segments)s, %(cost)s)
ON CONFLICT ("orgId", "day") DO UPDATE SET "segments" = "OrgSpendDay"."segments" + excluded."segments",
                                           "cost" = "OrgSpendDay"."cost" + excluded."cost";

-- spend_releasable --
-- Messages held by a spend guard, per org with a policy, oldest first (MessageLog_held_idx).
SELECT h."id", h."orgId", h."reason", h."segments", h."channel", h."metadata" FROM "OrgSpendPolicy" p
CROSS JOIN LATERAL (
    SELECT m."id", m."orgId", m."createdAt", m."segments", m."channel", m."metadata",
           m."metadata"->'hold'->>'reason' AS "reason" FROM "MessageLog" m
    WHERE m."orgId" = p."orgId" AND m."direction" = 'outbound' AND m."status" = 'queued'
      AND jsonb_typeof(m."metadata"->'hold') = 'object' AND m."twilioSid" IS NULL
      AND m."metadata"->'hold'->>'reason' IN ('spend_cap', 'price_ceiling')
    ORDER BY m."createdAt", m."id" LIMIT %(limit)s
    FOR UPDATE OF m SKIP LOCKED
) h
ORDER BY h."createdAt", h."id";

-- spend_held_without_policy --
-- Holds of an org whose policy was removed: nothing holds them any more.
SELECT m."id" FROM "MessageLog" m
WHERE m."direction" = 'outbound' AND m."status" = 'queued' AND jsonb_typeof(m."metadata"->'hold') = 'object'
  AND m."twilioSid" IS NULL AND m."metadata"->'hold'->>'reason' IN ('spend_cap', 'price_ceiling')
  AND NOT EXISTS (SELECT 1 FROM "OrgSpendPolicy" p WHERE p."orgId" = m."orgId")
LIMIT %(limit)s
FOR UPDATE OF m SKIP LOCKED;

-- ==== pumping ====

-- pumping_prices_known --
-- Whether any destination has a cached price: without one no window has a cost or a
-- high-price send, so no pumping signal can fire and the window need not be read.
SELECT EXISTS (SELECT 1 FROM "DestinationPrice" WHERE "price" IS NOT NULL) AS "known";

-- pumping_window --
-- Per org and destination country in [since, until): sends, their cost at the cached destination
-- prices and sends to high-price destinations; of the given orgs only when %(orgs)s is not NULL.
-- A range of the window on MessageLog_direction_createdAt_idx, no probe per message.
SELECT m."orgId", coalesce(m."metadata"->>'country', '') AS "country", count(*)::int AS "messages",
       coalesce(sum(m."segments" * d."price"), 0)::float8 AS "cost",
       count(*) FILTER (WHERE d."price" >= %(high)s)::int AS "highPrice"
FROM "MessageLog" m
LEFT JOIN "DestinationPrice" d ON d."isoCountry" = m."metadata"->>'country'
WHERE m."direction" = 'outbound' AND m."createdAt" >= %(since)s AND m."createdAt" < %(until)s
  AND (%(orgs)s::text[] IS NULL OR m."orgId" = ANY(%(orgs)s::text[]))
GROUP BY 1, 2;

-- pumping_new_numbers --
-- Per org (of %(orgs)s) and destination country: the numbers it sent to in [since, until) and
-- never before the window, one probe of MessageLog_to_idx per distinct number. The dear part of
-- the signal: asked only for the orgs whose window could need it (domain/pumping.py).
WITH w AS (
    SELECT DISTINCT m."orgId", m."to", coalesce(m."metadata"->>'country', '') AS "country"
    FROM "MessageLog" m
    WHERE m."direction" = 'outbound' AND m."createdAt" >= %(since)s AND m."createdAt" < %(until)s
      AND m."orgId" = ANY(%(orgs)s::text[])
)
SELECT w."orgId", w."country", count(*)::int AS "newNumbers"
FROM w
WHERE NOT EXISTS (SELECT 1 FROM "MessageLog" e WHERE e."to" = w."to" AND e."orgId" = w."orgId"
                  AND e."direction" = 'outbound' AND e."createdAt" < %(since)s)
GROUP BY 1, 2;
