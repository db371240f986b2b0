"""initial schema

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('AuditLog',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('tableName', sa.Text(), nullable=False),
    sa.Column('orgId', sa.Text(), nullable=True),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('createdAt', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('AuditLog_createdAt_idx', 'AuditLog', ['createdAt'], unique=False)
    op.create_table('MessageEvent',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('messageId', sa.Text(), nullable=True),
    sa.Column('twilioSid', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('errorCode', sa.Text(), nullable=True),
    sa.Column('idempotencyToken', sa.Text(), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('receivedAt', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('twilioSid', 'status', name='MessageEvent_sid_status_key')
    )
    op.create_index('MessageEvent_messageId_idx', 'MessageEvent', ['messageId'], unique=False)
    op.create_index('MessageEvent_token_key', 'MessageEvent', ['idempotencyToken'], unique=True, postgresql_where=sa.text('"idempotencyToken" IS NOT NULL'))
    op.create_table('Org',
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('createdAt', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('SystemSetting',
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('value', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('updatedAt', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('ApiKey',
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('orgId', sa.Text(), nullable=False),
    sa.Column('keyHash', sa.Text(), nullable=False),
    sa.Column('prefix', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('createdAt', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revokedAt', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['orgId'], ['Org.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('keyHash')
    )
    op.create_table('IdempotencyKey',
    sa.Column('orgId', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('requestHash', sa.Text(), nullable=False),
    sa.Column('responseStatus', sa.Integer(), nullable=False),
    sa.Column('responseBody', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('createdAt', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['orgId'], ['Org.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('orgId', 'key')
    )
    op.create_table('MessageLog',
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('orgId', sa.Text(), nullable=False),
    sa.Column('channel', sa.Text(), server_default=sa.text("'sms'"), nullable=False),
    sa.Column('direction', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('from', sa.Text(), nullable=True),
    sa.Column('to', sa.Text(), nullable=False),
    sa.Column('content', sa.Text(), nullable=True),
    sa.Column('segments', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('encoding', sa.Text(), server_default=sa.text("'GSM-7'"), nullable=False),
    sa.Column('twilioSid', sa.Text(), nullable=True),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('createdAt', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updatedAt', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sentAt', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('finalAt', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['orgId'], ['Org.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('twilioSid')
    )
    op.create_index('MessageLog_direction_createdAt_idx', 'MessageLog', ['direction', 'createdAt'], unique=False)
    op.create_index('MessageLog_direction_status_createdAt_idx', 'MessageLog', ['direction', 'status', 'createdAt'], unique=False)
    op.create_index('MessageLog_open_idx', 'MessageLog', ['createdAt'], unique=False, postgresql_where=sa.text('"direction" = \'outbound\' AND "status" IN (\'queued\',\'sending\',\'accepted\',\'scheduled\',\'sent\')'))
    op.create_index('MessageLog_orgId_createdAt_idx', 'MessageLog', ['orgId', 'createdAt'], unique=False)
    op.create_index('MessageLog_to_idx', 'MessageLog', ['to'], unique=False)
    op.create_table('OptOut',
    sa.Column('orgId', sa.Text(), nullable=False),
    sa.Column('phone', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('createdAt', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['orgId'], ['Org.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('orgId', 'phone')
    )
    op.create_table('OrgSettings',
    sa.Column('orgId', sa.Text(), nullable=False),
    sa.Column('smsDisabled', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('maxMessagesPerMinute', sa.Integer(), nullable=True),
    sa.Column('defaultRegion', sa.Text(), server_default=sa.text("'US'"), nullable=False),
    sa.Column('inboundWebhookUrl', sa.Text(), nullable=True),
    sa.Column('inboundWebhookSecret', sa.Text(), nullable=True),
    sa.Column('helpText', sa.Text(), nullable=True),
    sa.Column('contentPolicy', sa.Text(), server_default=sa.text("'warn'"), nullable=False),
    sa.Column('landlinePolicy', sa.Text(), server_default=sa.text("'warn'"), nullable=False),
    sa.Column('allowedCountries', postgresql.ARRAY(sa.Text()), nullable=True),
    sa.Column('validityPeriodSeconds', sa.Integer(), server_default=sa.text('36000'), nullable=False),
    sa.Column('dailySendCap', sa.Integer(), nullable=True),
    sa.Column('updatedAt', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['orgId'], ['Org.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('orgId')
    )
    op.create_table('PhoneNumber',
    sa.Column('id', sa.Text(), nullable=False),
    sa.Column('orgId', sa.Text(), nullable=False),
    sa.Column('number', sa.Text(), nullable=True),
    sa.Column('messagingServiceSid', sa.Text(), nullable=True),
    sa.Column('kind', sa.Text(), server_default=sa.text("'long_code'"), nullable=False),
    sa.Column('isDefault', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('createdAt', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['orgId'], ['Org.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    op.create_index('PhoneNumber_orgId_idx', 'PhoneNumber', ['orgId'], unique=False)
    


def downgrade() -> None:
    
    op.drop_index('PhoneNumber_orgId_idx', table_name='PhoneNumber')
    op.drop_table('PhoneNumber')
    op.drop_table('OrgSettings')
    op.drop_table('OptOut')
    op.drop_index('MessageLog_to_idx', table_name='MessageLog')
    op.drop_index('MessageLog_orgId_createdAt_idx', table_name='MessageLog')
    op.drop_index('MessageLog_open_idx', table_name='MessageLog', postgresql_where=sa.text('"direction" = \'outbound\' AND "status" IN (\'queued\',\'sending\',\'accepted\',\'scheduled\',\'sent\')'))
    op.drop_index('MessageLog_direction_status_createdAt_idx', table_name='MessageLog')
    op.drop_index('MessageLog_direction_createdAt_idx', table_name='MessageLog')
    op.drop_table('MessageLog')
    op.drop_table('IdempotencyKey')
    op.drop_table('ApiKey')
    op.drop_table('SystemSetting')
    op.drop_table('Org')
    op.drop_index('MessageEvent_token_key', table_name='MessageEvent', postgresql_where=sa.text('"idempotencyToken" IS NOT NULL'))
    op.drop_index('MessageEvent_messageId_idx', table_name='MessageEvent')
    op.drop_table('MessageEvent')
    op.drop_index('AuditLog_createdAt_idx', table_name='AuditLog')
    op.drop_table('AuditLog')
    
