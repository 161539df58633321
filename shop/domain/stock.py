"""Stock counters: guarded changes of a SKU's totals and of its locations, and item movements.

Every function runs inside the caller's transaction. ``change_totals`` is the one statement that
changes a product's counters; it locks the row, and the SKU's lane consumer already holds that lock
for its batch, so one writer at a time changes a SKU's stock (the checkout lane returning an unpaid
order's units is the other caller: README, Guarantees). Counters change with SQL expressions whose
guard failing is a bug.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shop.storage.models import BASE_UOM, DocType, ItemMovement, MovementType, Product, StockLocation, utcnow

LOCATION_CODE_MAX = 20


@dataclass
class Delta:
    """A change to one location's counters (base units)."""

    on_hand: int = 0
    reserved: int = 0
    allocated: int = 0

    def __bool__(self) -> bool:
        return bool(self.on_hand or self.reserved or self.allocated)


def change_totals(
    session: Session, sku: str, *, on_hand: int = 0, reserved: int = 0, allocated: int = 0, sales: int = 0
) -> None:
    """Change a SKU's totals (base units) as one guarded UPDATE; nothing to change, no statement.

    The guard is the invariant ``0 <= reserved``, ``0 <= allocated``, ``reserved + allocated <=
    on_hand``: every caller holds the row lock, so its failing means the figures were already wrong.
    """
    if not (on_hand or reserved or allocated or sales):
        return
    result = session.execute(
        update(Product)
        .where(
            Product.sku == sku,
            Product.reserved + reserved >= 0,
            Product.allocated + allocated >= 0,
            Product.reserved + reserved + Product.allocated + allocated <= Product.on_hand + on_hand,
        )
        .values(
            reserved=Product.reserved + reserved,
            on_hand=Product.on_hand + on_hand,
            allocated=Product.allocated + allocated,
            sales=Product.sales + sales,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise RuntimeError(
            f"stock guard refused a change to {sku}: on_hand {on_hand:+}, reserved {reserved:+}, "
            f"allocated {allocated:+}, sales {sales:+}"
        )


def location_row(sku: str, code: str, priority: int, on_hand: int, now: datetime) -> dict:
    """A new location's row: its opening stock on hand, nothing reserved or allocated yet."""
    return {
        "sku": sku, "location_code": code, "priority": priority, "on_hand": on_hand,
        "reserved": 0, "allocated": 0, "created_at": now, "updated_at": now,
    }  # fmt: skip


def open_location(session: Session, sku: str, code: str, now: datetime | None = None) -> None:
    """Create the SKU's location if it has none of that code yet (priority: after the others)."""
    now = now or utcnow()
    exists = session.scalar(
        select(StockLocation.id).where(StockLocation.sku == sku, StockLocation.location_code == code)
    )
    if exists is not None:
        return
    priority = session.scalar(select(func.max(StockLocation.priority)).where(StockLocation.sku == sku))
    session.add(StockLocation(**location_row(sku, code, 0 if priority is None else priority + 1, 0, now)))
    session.flush()


def change_locations(
    session: Session, sku: str, deltas: Mapping[str, Delta], now: datetime | None = None
) -> None:
    """Apply each location's counter change as one guarded UPDATE."""
    now = now or utcnow()
    for code, delta in deltas.items():
        if not delta:
            continue
        result = session.execute(
            update(StockLocation)
            .where(
                StockLocation.sku == sku,
                StockLocation.location_code == code,
                StockLocation.on_hand + delta.on_hand >= 0,
                StockLocation.reserved + delta.reserved >= 0,
                StockLocation.allocated + delta.allocated >= 0,
                StockLocation.reserved + delta.reserved + StockLocation.allocated + delta.allocated
                <= StockLocation.on_hand + delta.on_hand,
            )
            .values(
                on_hand=StockLocation.on_hand + delta.on_hand,
                reserved=StockLocation.reserved + delta.reserved,
                allocated=StockLocation.allocated + delta.allocated,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise RuntimeError(f"location guard refused a change to {sku}@{code}: {delta}")


def movement_row(
    sku: str,
    code: str,
    qty: int,
    doc_type: DocType,
    doc_ref: str,
    now: datetime,
    original_qty: int | None = None,
    uom: str = BASE_UOM,
    conversion: int = 1,
) -> dict:
    """Describe one movement: ``qty`` base units in (positive) or out (negative) of a location."""
    return {
        "sku": sku,
        "location_code": code,
        "movement_type": MovementType.IN if qty > 0 else MovementType.OUT,
        "doc_type": doc_type,
        "doc_ref": doc_ref[:64],
        "qty": abs(qty),
        "original_qty": abs(qty) // conversion if original_qty is None else original_qty,
        "original_uom": uom,
        "conversion": conversion,
        "created_at": now,
    }


def record_movements(session: Session, rows: list[dict]) -> None:
    """Append movements to the ledger (same transaction as the on-hand change they explain)."""
    if rows:
        session.execute(ItemMovement.__table__.insert(), rows)
