"""pause state in the database: lane_pauses

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'lane_pauses',
        sa.Column('lane', sa.String(length=80), nullable=False),
        sa.Column('paused', sa.Boolean(), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.Column('changed_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('lane', name=op.f('pk_lane_pauses')),
    )


def downgrade() -> None:
    op.drop_table('lane_pauses')
