"""Writing a batch's stock: its net change as guarded SQL, its new holds in one statement.

One guarded UPDATE per batch for the product's totals and one per changed location, then the
batch's new holds as one set-based INSERT (shop/storage/bulk.py): the hot path's writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from shop.domain.requests import OutcomeDict, QueuedRequest
from shop.domain.stock import Delta, change_locations, change_totals, location_row, record_movements
from shop.domain.stock_state import CartLine, StockState
from shop.storage.bulk import BulkInsert
from shop.storage.models import (
    Hold,
    Product,
    StockLocation,
)


def write_stock(session: Session, state: StockState) -> None:
    """Write the batch's net change (totals, each location, movements) as guarded SQL expressions."""
    product = state.product
    change_totals(
        session,
        product.sku,
        on_hand=state.on_hand - state.started_totals[1],
        reserved=state.reserved - state.started_totals[0],
        allocated=state.allocated - state.started_totals[2],
        sales=state.sales,
    )
    deltas = {}
    for code, (priority, on_hand, reserved, allocated) in state.locations.items():
        before = state.started.get(code)
        if before is None:
            session.add(StockLocation(**location_row(product.sku, code, priority, 0, state.now)))
            before = (0, 0, 0)
        deltas[code] = Delta(on_hand - before[0], reserved - before[1], allocated - before[2])
    if len(state.locations) > len(state.started):
        session.flush()
    change_locations(session, product.sku, deltas, state.now)
    record_movements(session, state.movements)
    _write_new_holds(session, state)


# A new hold's own values; its SKU and moments are the batch's (bound once).
_NEW_HOLDS = BulkInsert(
    Hold.__table__,
    columns=(
        "request_id",
        "cart_id",
        "qty",
        "status",
        "in_cart",
        "shopper_key",
        "uom",
        "uom_qty",
        "conversion",
        "unit_price",
        "price",
        "locations",
    ),
    constants=("sku", "expires_at", "created_at", "updated_at"),
    returning=("request_id", "id"),
)


def _write_new_holds(session: Session, state: StockState) -> None:
    """Insert the batch's new holds in one set-based statement and give each object its id."""
    holds = state.new_holds
    if not holds:
        return
    expires_at = holds[0].expires_at
    rows = []
    for h in holds:
        if h.expires_at != expires_at or h.created_at != state.now or h.updated_at != state.now:
            raise RuntimeError(f"{h.request_id}: a new hold's moments are the batch's")
        rows.append(
            (
                h.request_id,
                h.cart_id,
                h.qty,
                h.status,
                h.in_cart,
                h.shopper_key,
                h.uom,
                h.uom_qty,
                h.conversion,
                h.unit_price,
                h.price,
                h.locations,
            )
        )
    ids = dict(
        _NEW_HOLDS.execute(
            session,
            rows,
            sku=state.product.sku,
            expires_at=expires_at,
            created_at=state.now,
            updated_at=state.now,
        )
    )
    for hold in holds:
        hold.id = ids[hold.request_id]


def fill_hold_ids(applied: Sequence[tuple[QueuedRequest, OutcomeDict]]) -> None:
    """Replace the in-memory hold references with their ids once the flush assigned them."""
    for _request, outcome in applied:
        fill_hold_id(outcome)


def fill_hold_id(outcome: OutcomeDict) -> CartLine | None:
    """Give an outcome its hold's id and expiry in place of the in-memory hold; return that hold."""
    hold = outcome.pop("_hold", None)
    if hold is not None:
        outcome["hold_id"] = hold.id
        outcome["expires_at"] = hold.expires_at.isoformat()
    return hold


def stock_after(session: Session, sku: str, state: StockState | None) -> tuple[int, int] | None:
    """The SKU's (available, held) after the batch, for the waiting room's odds."""
    if state is not None:
        return state.available, state.reserved
    row = session.execute(
        select(Product.on_hand, Product.reserved, Product.allocated).where(Product.sku == sku)
    ).first()
    return None if row is None else (max(0, row.on_hand - row.reserved - row.allocated), row.reserved)
