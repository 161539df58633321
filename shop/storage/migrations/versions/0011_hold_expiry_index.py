"""a hot SKU's overdue holds are a range of an index, not a filter over all its active holds

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Every batch of a SKU's consumer expires the SKU's overdue holds (``sku = :sku AND status = 'active'
AND expires_at <= now``), and every read of the product sums their units (``overdue_units``). With
only ``(sku, status)`` to go on, both read every active hold of the SKU and filtered on the expiry:
during a flash sale that is every hold taken so far, so each batch cost more than the one before
(issue 12's profile: 12,000 rows read to find none). ``(sku, status, expires_at)`` reads only the
overdue ones, and serves every query ``(sku, status)`` served, so that one goes.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_holds_sku_status_expires", "holds", ["sku", "status", "expires_at"])
    op.drop_index("ix_holds_sku_status", table_name="holds")


def downgrade() -> None:
    op.create_index("ix_holds_sku_status", "holds", ["sku", "status"])
    op.drop_index("ix_holds_sku_status_expires", table_name="holds")
