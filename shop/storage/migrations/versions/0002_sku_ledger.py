"""per-SKU ledger: sequence, request params and stock figures after each applied request

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Existing products get an opening row (seq 1) with today's figures, so the audit can replay every
SKU's ledger from its first row.
"""

import json
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('applied_requests', schema=None) as batch_op:
        batch_op.alter_column('request_id', existing_type=sa.String(length=64), type_=sa.String(length=128))
        batch_op.add_column(sa.Column('sku', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('params', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('on_hand_after', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reserved_after', sa.Integer(), nullable=True))
        batch_op.create_index('ix_applied_requests_sku_seq', ['sku', 'seq'], unique=True)

    conn = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    products = conn.execute(sa.text('SELECT sku, on_hand, reserved FROM products')).all()
    ledger = sa.table(
        'applied_requests',
        sa.column('request_id', sa.String),
        sa.column('lane', sa.String),
        sa.column('kind', sa.String),
        sa.column('outcome', sa.Text),
        sa.column('applied_at', sa.DateTime),
        sa.column('sku', sa.String),
        sa.column('seq', sa.BigInteger),
        sa.column('params', sa.Text),
        sa.column('on_hand_after', sa.Integer),
        sa.column('reserved_after', sa.Integer),
    )
    rows = [
        {
            'request_id': f'opening-{sku}',
            'lane': f'sku:{sku}',
            'kind': 'opening_balance',
            'outcome': json.dumps(
                {'outcome': 'opening_balance', 'sku': sku, 'on_hand': on_hand, 'reserved': reserved},
                sort_keys=True,
            ),
            'applied_at': now,
            'sku': sku,
            'seq': 1,
            'params': '{}',
            'on_hand_after': on_hand,
            'reserved_after': reserved,
        }
        for sku, on_hand, reserved in products
    ]
    if rows:
        op.bulk_insert(ledger, rows)


def downgrade() -> None:
    op.execute("DELETE FROM applied_requests WHERE kind = 'opening_balance'")
    with op.batch_alter_table('applied_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_applied_requests_sku_seq')
        batch_op.drop_column('reserved_after')
        batch_op.drop_column('on_hand_after')
        batch_op.drop_column('params')
        batch_op.drop_column('seq')
        batch_op.drop_column('sku')
        batch_op.alter_column('request_id', existing_type=sa.String(length=128), type_=sa.String(length=64))
