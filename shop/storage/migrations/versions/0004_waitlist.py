"""waitlist entries: requests waiting for units held in carts to come back

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('waitlist_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('cart_id', sa.String(length=64), nullable=False),
    sa.Column('shopper_key', sa.String(length=64), nullable=True),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('allow_partial', sa.Boolean(), nullable=False),
    sa.Column('ticket', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_by', sa.String(length=128), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('hold_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('qty >= 1', name=op.f('ck_waitlist_entries_qty_positive')),
    sa.ForeignKeyConstraint(['cart_id'], ['carts.id'], name=op.f('fk_waitlist_entries_cart_id_carts')),
    sa.ForeignKeyConstraint(['hold_id'], ['holds.id'], name=op.f('fk_waitlist_entries_hold_id_holds')),
    sa.ForeignKeyConstraint(['sku'], ['products.sku'], name=op.f('fk_waitlist_entries_sku_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_entries')),
    sa.UniqueConstraint('request_id', name=op.f('uq_waitlist_entries_request_id'))
    )
    with op.batch_alter_table('waitlist_entries', schema=None) as batch_op:
        batch_op.create_index('ix_waitlist_entries_sku_status', ['sku', 'status', 'id'], unique=False)
        batch_op.create_index('ix_waitlist_entries_status_expires', ['status', 'expires_at'], unique=False)
        batch_op.create_index('ix_waitlist_entries_resolved_by', ['resolved_by'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('waitlist_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_waitlist_entries_resolved_by')
        batch_op.drop_index('ix_waitlist_entries_status_expires')
        batch_op.drop_index('ix_waitlist_entries_sku_status')

    op.drop_table('waitlist_entries')
