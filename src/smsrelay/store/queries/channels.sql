-- Channels and scheduled sends (service/outbound: channels.py, scheduling.py).

-- whatsapp_last_inbound --
-- When the person last wrote to the org on WhatsApp (to this sender, when one is named): the
-- customer-service window is open for 24 hours after it. One probe of the partial index
-- "MessageLog_whatsapp_inbound_idx" (migration 0023).
SELECT max("createdAt") AS "lastAt" FROM "MessageLog"
WHERE "orgId" = %(org_id)s AND "direction" = 'inbound' AND "channel" = 'whatsapp'
  AND "from" = %(person)s AND (%(sender)s::text IS NULL OR "to" = %(sender)s::text);

-- release_scheduled --
-- A scheduled message whose time has come joins the worker's queue: scheduled -> queued is a
-- move forward in the lattice (migration 0023), so nothing else can do it twice or undo it.
UPDATE "MessageLog" SET "status" = 'queued', "updatedAt" = now()
WHERE "id" = %(id)s AND "status" = 'scheduled' AND "direction" = 'outbound'
  AND "sendAt" <= now() + make_interval(secs => %(early)s)
RETURNING "id";

-- lock_org_message --
-- An org's message under its lock; another org's answers as a missing one.
SELECT * FROM "MessageLog" WHERE "id" = %(id)s AND "orgId" = %(org_id)s FOR UPDATE;

-- unqueue_canceled --
-- A canceled message leaves the send queue; a row a worker holds is left to that run, which
-- finds the message canceled (mark_in_flight proves it is still queued) and finishes the row.
DELETE FROM "SendQueue" WHERE "messageId" = %(id)s AND "leaseOwner" IS NULL;

-- scheduled_counts --
-- Scheduled messages per channel for one org, and the next one due (GET /v1/messages/scheduled);
-- ("direction", "status", "createdAt") finds them.
SELECT "channel", count(*)::int AS "count", min("sendAt") AS "nextAt", max("sendAt") AS "lastAt"
FROM "MessageLog"
WHERE "orgId" = %(org_id)s AND "direction" = 'outbound' AND "status" = 'scheduled'
GROUP BY 1 ORDER BY 1;

-- insert_sender --
INSERT INTO "PhoneNumber" ("id", "orgId", "number", "messagingServiceSid", "kind", "isDefault")
VALUES (%(id)s, %(org_id)s, %(number)s, NULL, %(kind)s, %(is_default)s)
RETURNING *;

-- set_channel_disabled --
-- One channel's switch; the audit trigger on "OrgSettings" records it (the caller named the actor).
UPDATE "OrgSettings" SET
    "smsDisabled" = CASE WHEN %(channel)s = 'sms' THEN %(disabled)s ELSE "smsDisabled" END,
    "mmsDisabled" = CASE WHEN %(channel)s = 'mms' THEN %(disabled)s ELSE "mmsDisabled" END,
    "whatsappDisabled" = CASE WHEN %(channel)s = 'whatsapp' THEN %(disabled)s ELSE "whatsappDisabled" END
WHERE "orgId" = %(org_id)s
RETURNING "orgId", "smsDisabled", "mmsDisabled", "whatsappDisabled", "maxMessagesPerMinute";
