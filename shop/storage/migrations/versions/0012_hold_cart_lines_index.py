"""a batch finds its carts' lines of a SKU by cart, not by reading all the SKU's holds

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

Every batch with known carts looks up their live holds on the SKU (locked) and their expired lines
still shown. With ``(sku, status, expires_at)`` and ``(cart_id, in_cart)`` to choose from, and no
fresh statistics during a sale, both planners read every active (or expired) hold of the SKU and
filtered by cart: 20,000 rows for 60 carts. ``(cart_id, sku, status)`` answers each cart with an
equality on all three columns; the statement asks per cart (shop/domain/stock_state.py ``cart_lines``), so
its plan has nothing to weigh the SKU's index against.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_holds_cart_sku_status", "holds", ["cart_id", "sku", "status"])


def downgrade() -> None:
    op.drop_index("ix_holds_cart_sku_status", table_name="holds")
