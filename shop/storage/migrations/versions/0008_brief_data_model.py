"""the brief's data model: stock per location, units of measure, item movements, flash prices, order numbers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Takes today's schema to the brief's without losing anything (docs/issue11-design.md):
- each product's stock becomes one location, MAIN (on hand and reserved as they are), with an
  opening movement (ADJ IN, doc_ref OPENING) that explains its on hand;
- its price becomes both normal_price and price; base_uom is pcs;
- holds keep their units in MAIN, entered as pcs at the product's price (an ordered hold at its
  order line's price); a sold hold (payment used to take units off on hand) becomes shipped, and a
  paid order's lines shipped, so no unit is counted as allocated that already left;
- every existing order gets an order_no (KL-<its date>-<number>, numbered by creation) and its
  order_date; its lines get disc_pct/disc_amt 0 and net_amt = qty x unit_price.
"""

import json
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

ORDER_NO_PREFIX = 'KL'


def upgrade() -> None:
    conn = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('base_uom', sa.String(length=20), nullable=False, server_default='pcs'))
        batch_op.add_column(sa.Column('normal_price', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('allocated', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('sale_ends_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))
    conn.execute(sa.text('UPDATE products SET normal_price = price, updated_at = created_at'))
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.alter_column('updated_at', existing_type=sa.DateTime(), nullable=False)
        batch_op.drop_constraint(op.f('ck_products_reserved_within_on_hand'), type_='check')
        batch_op.create_check_constraint(op.f('ck_products_allocated_not_negative'), 'allocated >= 0')
        batch_op.create_check_constraint(
            op.f('ck_products_committed_within_on_hand'), 'reserved + allocated <= on_hand'
        )
        batch_op.create_check_constraint(op.f('ck_products_price_within_normal'), 'price <= normal_price')

    op.create_table('product_uoms',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('uom', sa.String(length=20), nullable=False),
    sa.Column('conversion', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('conversion >= 2', name=op.f('ck_product_uoms_conversion_above_one')),
    sa.ForeignKeyConstraint(['sku'], ['products.sku'], name=op.f('fk_product_uoms_sku_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_uoms')),
    sa.UniqueConstraint('sku', 'uom', name='uq_product_uoms_sku_uom')
    )
    op.create_table('stock_locations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('location_code', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('on_hand', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('allocated', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('allocated >= 0', name=op.f('ck_stock_locations_allocated_not_negative')),
    sa.CheckConstraint('on_hand >= 0', name=op.f('ck_stock_locations_on_hand_not_negative')),
    sa.CheckConstraint('reserved + allocated <= on_hand', name=op.f('ck_stock_locations_committed_within_on_hand')),
    sa.CheckConstraint('reserved >= 0', name=op.f('ck_stock_locations_reserved_not_negative')),
    sa.ForeignKeyConstraint(['sku'], ['products.sku'], name=op.f('fk_stock_locations_sku_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_locations')),
    sa.UniqueConstraint('sku', 'location_code', name='uq_stock_locations_sku_location')
    )
    op.create_table('item_movements',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('location_code', sa.String(length=20), nullable=False),
    sa.Column('movement_type', sa.String(length=3), nullable=False),
    sa.Column('doc_type', sa.String(length=3), nullable=False),
    sa.Column('doc_ref', sa.String(length=64), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('original_qty', sa.Integer(), nullable=False),
    sa.Column('original_uom', sa.String(length=20), nullable=False),
    sa.Column('conversion', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("movement_type IN ('IN', 'OUT')", name=op.f('ck_item_movements_movement_type_known')),
    sa.CheckConstraint('qty >= 1', name=op.f('ck_item_movements_qty_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_item_movements'))
    )
    with op.batch_alter_table('item_movements', schema=None) as batch_op:
        batch_op.create_index('ix_item_movements_sku_id', ['sku', 'id'], unique=False)
    op.create_table('counters',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counters'))
    )

    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uom', sa.String(length=20), nullable=False, server_default='pcs'))
        batch_op.add_column(sa.Column('uom_qty', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('conversion', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('unit_price', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('price', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locations', sa.Text(), nullable=False, server_default='{}'))

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('order_no', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('order_date', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('notes', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uom', sa.String(length=20), nullable=False, server_default='pcs'))
        batch_op.add_column(sa.Column('uom_qty', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('disc_pct', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('disc_amt', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('net_amt', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('shipped_at', sa.DateTime(), nullable=True))

    # Stock: one location MAIN per product, and the movement that explains its on hand.
    products = conn.execute(sa.text('SELECT sku, on_hand, reserved FROM products ORDER BY sku')).all()
    locations = sa.table(
        'stock_locations',
        sa.column('sku', sa.String), sa.column('location_code', sa.String), sa.column('priority', sa.Integer),
        sa.column('on_hand', sa.Integer), sa.column('reserved', sa.Integer), sa.column('allocated', sa.Integer),
        sa.column('created_at', sa.DateTime), sa.column('updated_at', sa.DateTime),
    )
    movements = sa.table(
        'item_movements',
        sa.column('sku', sa.String), sa.column('location_code', sa.String),
        sa.column('movement_type', sa.String), sa.column('doc_type', sa.String), sa.column('doc_ref', sa.String),
        sa.column('qty', sa.Integer), sa.column('original_qty', sa.Integer), sa.column('original_uom', sa.String),
        sa.column('conversion', sa.Integer), sa.column('created_at', sa.DateTime),
    )
    location_rows = [
        {'sku': sku, 'location_code': 'MAIN', 'priority': 0, 'on_hand': on_hand, 'reserved': reserved,
         'allocated': 0, 'created_at': now, 'updated_at': now}
        for sku, on_hand, reserved in products
    ]
    movement_rows = [
        {'sku': sku, 'location_code': 'MAIN', 'movement_type': 'IN', 'doc_type': 'ADJ', 'doc_ref': 'OPENING',
         'qty': on_hand, 'original_qty': on_hand, 'original_uom': 'pcs', 'conversion': 1, 'created_at': now}
        for sku, on_hand, _reserved in products
        if on_hand > 0
    ]
    if location_rows:
        op.bulk_insert(locations, location_rows)
    if movement_rows:
        op.bulk_insert(movements, movement_rows)

    # Holds: entered as pcs, at MAIN, at the price of the time (an ordered hold's order line price).
    conn.execute(sa.text(
        "UPDATE holds SET uom_qty = qty, "
        "unit_price = (SELECT price FROM products WHERE products.sku = holds.sku), "
        "price = (SELECT price FROM products WHERE products.sku = holds.sku)"
    ))
    conn.execute(sa.text(
        "UPDATE holds SET unit_price = (SELECT unit_price FROM order_lines WHERE order_lines.hold_id = holds.id), "
        "price = (SELECT unit_price FROM order_lines WHERE order_lines.hold_id = holds.id) "
        "WHERE EXISTS (SELECT 1 FROM order_lines WHERE order_lines.hold_id = holds.id)"
    ))
    for hold_id, qty in conn.execute(sa.text('SELECT id, qty FROM holds')).all():
        conn.execute(
            sa.text('UPDATE holds SET locations = :loc WHERE id = :id'),
            {'loc': json.dumps({'MAIN': qty}), 'id': hold_id},
        )
    # Payment used to be the goods issue (on hand dropped when paid): those units are shipped.
    conn.execute(sa.text("UPDATE holds SET status = 'shipped' WHERE status = 'sold'"))

    # Order lines: no discount before this revision; paid orders' lines left with the payment.
    conn.execute(sa.text('UPDATE order_lines SET uom_qty = qty, net_amt = qty * unit_price'))
    conn.execute(sa.text(
        "UPDATE order_lines SET shipped_at = (SELECT updated_at FROM orders WHERE orders.id = order_lines.order_id) "
        "WHERE order_id IN (SELECT id FROM orders WHERE status = 'paid')"
    ))
    conn.execute(sa.text("UPDATE orders SET status = 'shipped' WHERE status = 'paid'"))

    # Orders: a number each, in creation order, and the counter the next one continues from.
    orders = conn.execute(sa.text('SELECT id, created_at FROM orders ORDER BY created_at, id')).all()
    for number, (order_id, created_at) in enumerate(orders, start=1):
        moment = created_at if isinstance(created_at, datetime) else datetime.fromisoformat(str(created_at))
        conn.execute(
            sa.text('UPDATE orders SET order_no = :no, order_date = created_at WHERE id = :id'),
            {'no': f'{ORDER_NO_PREFIX}-{moment:%Y%m%d}-{number:06d}', 'id': order_id},
        )
    conn.execute(sa.text("INSERT INTO counters (name, value) VALUES ('order_no', :n)"), {'n': len(orders)})
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.alter_column('order_no', existing_type=sa.String(length=30), nullable=False)
        batch_op.alter_column('order_date', existing_type=sa.DateTime(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_orders_order_no'), ['order_no'])


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE orders SET status = 'paid' WHERE status = 'shipped'"))
    conn.execute(sa.text("UPDATE holds SET status = 'sold' WHERE status = 'shipped'"))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_orders_order_no'), type_='unique')
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('notes')
        batch_op.drop_column('order_date')
        batch_op.drop_column('order_no')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        for name in ('shipped_at', 'net_amt', 'disc_amt', 'disc_pct', 'uom_qty', 'uom'):
            batch_op.drop_column(name)
    with op.batch_alter_table('holds', schema=None) as batch_op:
        for name in ('locations', 'price', 'unit_price', 'conversion', 'uom_qty', 'uom'):
            batch_op.drop_column(name)
    op.drop_table('counters')
    with op.batch_alter_table('item_movements', schema=None) as batch_op:
        batch_op.drop_index('ix_item_movements_sku_id')
    op.drop_table('item_movements')
    op.drop_table('stock_locations')
    op.drop_table('product_uoms')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_products_price_within_normal'), type_='check')
        batch_op.drop_constraint(op.f('ck_products_committed_within_on_hand'), type_='check')
        batch_op.drop_constraint(op.f('ck_products_allocated_not_negative'), type_='check')
        batch_op.create_check_constraint(op.f('ck_products_reserved_within_on_hand'), 'reserved <= on_hand')
        for name in ('updated_at', 'sale_ends_at', 'allocated', 'normal_price', 'base_uom'):
            batch_op.drop_column(name)
