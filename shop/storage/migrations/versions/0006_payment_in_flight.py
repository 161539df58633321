"""payments: at most one attempt in flight per order; an index for the reconciler

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'uq_payments_order_in_flight',
        'payments',
        ['order_id'],
        unique=True,
        sqlite_where=sa.text("status = 'processing'"),
        postgresql_where=sa.text("status = 'processing'"),
    )
    op.create_index('ix_payments_status_updated', 'payments', ['status', 'updated_at'])


def downgrade() -> None:
    op.drop_index('ix_payments_status_updated', table_name='payments')
    op.drop_index('uq_payments_order_in_flight', table_name='payments')
