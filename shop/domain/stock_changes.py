"""Changes to a SKU's stock other than holds: an operator's count, goods receipt, allocation of
paid units, goods issue, units an expired order handed back, and a sale's opening draw.

Each decides one request of the SKU's batch against its running figures, like a hold.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from shop.domain.locations import DEFAULT_LOCATION, parse_locations
from shop.domain.products import apply_fields
from shop.domain.requests import Outcome, OutcomeDict, QueuedRequest, RequestKind
from shop.domain.stock_state import StockState, request_unit, unknown_unit
from shop.storage.models import (
    DocType,
    Hold,
    HoldStatus,
    Order,
    OrderLine,
    OrderStatus,
)

# Product details an operator may change together with the stock (validated before queueing).
PRODUCT_DETAIL_FIELDS = frozenset(
    {
        "name",
        "category",
        "description",
        "image",
        "price",
        "normal_price",
        "base_uom",
        "max_per_cart",
        "max_per_customer",
        "sale_starts_at",
        "sale_ends_at",
    }
)


def set_stock(session: Session, state: StockState, request: QueuedRequest) -> OutcomeDict:
    """Set the units on hand (an adjustment at one location), never below what is reserved or allocated.

    The difference is counted at ``params["location"]``, else at the SKU's first location by
    priority; it is an ADJ movement there.
    """
    on_hand = int(request.params["on_hand"])
    sku = state.product.sku
    code = request.params.get("location") or next(iter(state.locations), DEFAULT_LOCATION)
    delta = on_hand - state.on_hand
    loc = state.locations.get(code, [0, 0, 0, 0])
    if on_hand < state.reserved + state.allocated or loc[1] - loc[2] - loc[3] + delta < 0:
        return {
            "outcome": Outcome.CONFLICT,
            "sku": sku,
            "on_hand": state.on_hand,
            "reserved": state.reserved + state.allocated,
            "requested": on_hand,
            "location": code,
        }
    if delta:
        state.move(
            code,
            delta,
            DocType.ADJUSTMENT,
            f"ADJ-{request.request_id[:24]}",
            abs(delta),
            state.product.base_uom,
            1,
        )
    fields = {k: v for k, v in request.params.get("fields", {}).items() if k in PRODUCT_DETAIL_FIELDS}
    for name, value in request.params.get("fields", {}).items():
        if name in ("max_per_cart", "max_per_customer", "sale_starts_at", "base_uom"):
            state.rules_changed = True
        if name == "max_per_customer":
            state.customer_limit = value or None
    # Moments travel as ISO text (the job and the ledger are JSON-friendly); apply_fields parses them.
    apply_fields(state.product, fields)
    return {
        "outcome": Outcome.STOCK_SET,
        "sku": sku,
        "on_hand": on_hand,
        "reserved": state.reserved,
        "allocated": state.allocated,
        "available": state.available,
        "location": code,
    }


def receive(session: Session, state: StockState, request: QueuedRequest) -> OutcomeDict:
    """Book a goods receipt: ``qty`` of ``uom`` arrive at a location (opened if new)."""
    unit = request_unit(state, request)
    if unit is None:
        return unknown_unit(state, request)
    uom, conversion = unit
    entered = int(request.params["qty"])
    code = str(request.params["location"])
    doc_ref = str(request.params.get("doc_ref") or f"GR-{request.request_id[:24]}")
    qty = entered * conversion
    state.move(code, qty, DocType.GOODS_RECEIPT, doc_ref, entered, uom, conversion)
    return {
        "outcome": Outcome.RECEIVED,
        "sku": state.product.sku,
        "location": code,
        "qty": qty,
        "uom": uom,
        "uom_qty": entered,
        "doc_ref": doc_ref,
        "on_hand": state.on_hand,
        "available": state.available,
    }


def _order_holds(session: Session, state: StockState, order_id: str, status: HoldStatus) -> list[Hold]:
    """Lock the order's holds of this SKU in the given status, in id order."""
    return list(
        session.scalars(
            select(Hold)
            .where(Hold.order_id == order_id, Hold.sku == state.product.sku, Hold.status == status)
            .order_by(Hold.id)
            .with_for_update()
        )
    )


def _allocate_holds(state: StockState, holds: Sequence[Hold]) -> int:
    """Move paid holds' units from reserved to allocated where they are; return the units."""
    units = 0
    for hold in holds:
        for code, qty in parse_locations(hold.locations).items():
            loc = state.locations[code]
            loc[2] -= qty
            loc[3] += qty
        state.reserved -= hold.qty
        state.allocated += hold.qty
        state.sales += hold.qty
        hold.status = HoldStatus.SOLD
        hold.updated_at = state.now
        units += hold.qty
    return units


def allocate(session: Session, state: StockState, request: QueuedRequest) -> OutcomeDict:
    """A paid order's units of this SKU: reserved -> allocated (they stay on hand until shipped)."""
    order_id = str(request.params["order_id"])
    holds = _order_holds(session, state, order_id, HoldStatus.PAID)
    if not holds:
        return {"outcome": Outcome.NOOP, "order_id": order_id, "reason": "nothing paid to allocate"}
    qty = _allocate_holds(state, holds)
    return {"outcome": Outcome.ALLOCATED, "sku": state.product.sku, "order_id": order_id, "qty": qty}


def ship(session: Session, state: StockState, request: QueuedRequest) -> OutcomeDict:
    """Issue a paid order's units of this SKU (a GI movement per location): allocated and on hand drop."""
    order_id = str(request.params["order_id"])
    # Lock the order first: the lanes of its other SKUs settle its status one after the other.
    order = session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None or order.status not in (OrderStatus.PAID, OrderStatus.SHIPPED):
        return {"outcome": Outcome.NOOP, "order_id": order_id, "reason": "order is not paid"}
    late = _order_holds(session, state, order_id, HoldStatus.PAID)
    if late:
        # Its allocation has not come through the line yet (or was lost): allocate first.
        qty = _allocate_holds(state, late)
        outcome = {"outcome": Outcome.ALLOCATED, "sku": state.product.sku, "order_id": order_id, "qty": qty}
        state.note(f"allocate-{order_id}-{state.product.sku}", RequestKind.ALLOCATE, outcome)
    holds = _order_holds(session, state, order_id, HoldStatus.SOLD)
    if not holds:
        return {"outcome": Outcome.NOOP, "order_id": order_id, "reason": "nothing left to ship"}
    shipped = 0
    for hold in holds:
        for code, qty in parse_locations(hold.locations).items():
            state.locations[code][3] -= qty
            state.move(
                code,
                -qty,
                DocType.GOODS_ISSUE,
                order.order_no,
                qty // hold.conversion,
                hold.uom,
                hold.conversion,
            )
        state.allocated -= hold.qty
        hold.status = HoldStatus.SHIPPED
        hold.updated_at = state.now
        shipped += hold.qty
    session.execute(
        update(OrderLine)
        .where(OrderLine.order_id == order_id, OrderLine.hold_id.in_([h.id for h in holds]))
        .values(shipped_at=state.now)
        .execution_options(synchronize_session=False)
    )
    unshipped = session.scalar(
        select(func.count())
        .select_from(OrderLine)
        .where(OrderLine.order_id == order_id, OrderLine.shipped_at.is_(None))
    )
    if not unshipped:
        order.status = OrderStatus.SHIPPED
        order.updated_at = state.now
    return {
        "outcome": Outcome.SHIPPED,
        "sku": state.product.sku,
        "order_id": order_id,
        "order_no": order.order_no,
        "qty": shipped,
        "order_status": order.status,
    }


def take_handoff(session: Session, state: StockState, request: QueuedRequest) -> OutcomeDict:
    """Take in units an expired order returned: its shoppers' counts change, the stock is re-read."""
    order_id = str(request.params.get("order_id", ""))
    shoppers = session.scalars(
        select(Hold.shopper_key)
        .join(OrderLine, OrderLine.hold_id == Hold.id)
        .where(OrderLine.order_id == order_id, OrderLine.sku == state.product.sku)
    )
    for shopper in shoppers:
        state.count_units(shopper, 0)
    sku = state.product.sku
    return {"outcome": Outcome.HANDOFF, "sku": sku, "order_id": order_id, "available": state.available}


def record_draw(session: Session, state: StockState, request: QueuedRequest) -> OutcomeDict:
    """Record a sale's opening: the seed and the tickets its pre-queue was drawn into (for the audit)."""
    params = request.params
    return {
        "outcome": Outcome.SALE_OPENED,
        "sku": state.product.sku,
        "seed": int(params["seed"]),
        "start_ms": int(params["start_ms"]),
        "count": int(params.get("count", 0)),
        "first_ticket": int(params.get("first_ticket", 0)),
    }
