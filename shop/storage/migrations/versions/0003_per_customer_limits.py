"""per-customer limits: products.max_per_customer, holds.shopper_key

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_per_customer', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_products_max_per_customer_positive'), 'max_per_customer >= 1')

    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shopper_key', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_holds_sku_shopper', ['sku', 'shopper_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.drop_index('ix_holds_sku_shopper')
        batch_op.drop_column('shopper_key')

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_products_max_per_customer_positive'), type_='check')
        batch_op.drop_column('max_per_customer')
