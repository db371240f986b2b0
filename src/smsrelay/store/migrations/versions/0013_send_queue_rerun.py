"""the send loop: a re-run asked for while a send is leased, the send workers' heartbeats and
the wake-up of a new "SendQueue" row

Revision ID: 0013
Revises: 0012
"""
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# "rerunAt": an enqueue that finds its row leased (the running send's own retry, or a release,
# retry or re-plan from outside) must neither start a second run beside the leased one nor be
# lost; it is written down here and the lease's finish turns it into "dueAt" instead of deleting
# the row. "SendWorker": each send loop's heartbeat, what "workers alive" and the diagnosis read.
# The trigger fires once per statement, so a batch of a thousand rows wakes the workers once.
UP = """
ALTER TABLE "SendQueue" ADD COLUMN "rerunAt" timestamptz;

CREATE TABLE "SendWorker" (
    "id" text PRIMARY KEY,
    "startedAt" timestamptz NOT NULL DEFAULT now(),
    "heartbeatAt" timestamptz NOT NULL DEFAULT now(),
    "expiresAt" timestamptz NOT NULL
);

CREATE FUNCTION smsrelay_send_queue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('smsrelay_send_queue', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER "SendQueue_notify" AFTER INSERT ON "SendQueue"
FOR EACH STATEMENT EXECUTE FUNCTION smsrelay_send_queue_notify();
"""

DOWN = """
DROP TRIGGER "SendQueue_notify" ON "SendQueue";
DROP FUNCTION smsrelay_send_queue_notify();
DROP TABLE "SendWorker";
ALTER TABLE "SendQueue" DROP COLUMN "rerunAt";
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
