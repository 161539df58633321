"""Orders: a cart's live holds turned into an order awaiting payment, and unpaid orders ended.

Checkout, order expiry and an operator's cancellation are queued requests of the checkout lanes
(applied in batches by shop.domain.batches, like stock requests). Payment is synchronous
(shop.domain.payments). Every state change is a conditional update that the database arbitrates.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shop.domain.errors import NotFound
from shop.domain.ledger import append_stock_entry
from shop.domain.locations import parse_locations
from shop.domain.order_numbers import next_order_no
from shop.domain.pricing import line_amounts
from shop.domain.requests import OrderKind, Outcome, OutcomeDict, QueuedRequest
from shop.domain.stock import Delta, change_locations, change_totals
from shop.storage.models import (
    Hold,
    HoldStatus,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    utcnow,
)

MAX_NOTES = 500


@dataclass(frozen=True)
class OrderBatch:
    """What every request of one checkout lane's batch is decided with."""

    lane: str
    payment_ttl: timedelta
    now: datetime


def checkout(session: Session, batch: OrderBatch, request: QueuedRequest) -> OutcomeDict:
    """Turn the cart's live holds into an order awaiting payment; units stay reserved."""
    now = batch.now
    cart_id = request.params["cart_id"]
    lines = list(
        session.scalars(
            select(Hold)
            .where(Hold.cart_id == cart_id, Hold.in_cart.is_(True))
            .order_by(Hold.id)
            .with_for_update()
        )
    )
    if not lines:
        return {"outcome": Outcome.EMPTY_CART}
    live = [h for h in lines if h.status == HoldStatus.ACTIVE and h.expires_at > now]
    missing = sorted({h.sku for h in lines if h not in live})
    if not live:
        return {"outcome": Outcome.HOLDS_EXPIRED, "missing": missing}
    names = dict(
        session.execute(select(Product.sku, Product.name).where(Product.sku.in_({h.sku for h in live}))).all()
    )
    # The prices were fixed when each hold was taken (a flash price stays the shopper's).
    amounts = {hold.id: line_amounts(hold.qty, hold.unit_price, hold.price) for hold in live}
    notes = request.params.get("notes")
    order = Order(
        id="ord_" + secrets.token_hex(12),
        cart_id=cart_id,
        status=OrderStatus.PENDING_PAYMENT,
        total=sum(a.net_amt for a in amounts.values()),
        pay_before=now + batch.payment_ttl,
        request_id=request.request_id,
        order_no=next_order_no(session, now),
        order_date=now,
        notes=notes[:MAX_NOTES] if isinstance(notes, str) and notes else None,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    session.flush()
    for hold in live:
        line = amounts[hold.id]
        session.add(
            OrderLine(
                order_id=order.id,
                hold_id=hold.id,
                sku=hold.sku,
                name=names[hold.sku],
                qty=hold.qty,
                uom=hold.uom,
                uom_qty=hold.uom_qty,
                unit_price=line.unit_price,
                disc_pct=line.disc_pct,
                disc_amt=line.disc_amt,
                net_amt=line.net_amt,
            )
        )
        hold.status = HoldStatus.ORDERED
        hold.order_id = order.id
        hold.in_cart = False
        hold.updated_at = now
    for hold in lines:
        if hold not in live:
            hold.in_cart = False
    return {
        "outcome": Outcome.ORDER_CREATED,
        "order_id": order.id,
        "order_no": order.order_no,
        "total": order.total,
        "pay_before": order.pay_before.isoformat(),
        "missing": missing,
    }


def _return_order_units(
    session: Session, lane: str, order_id: str, to_status: HoldStatus, now: datetime
) -> list[str]:
    """Release an order's reserved units, locking product rows in SKU order to avoid deadlocks.

    Each SKU's ledger gets an entry, written after the product's row is changed (and so locked).
    Return the SKUs whose units came back.
    """
    holds = list(
        session.scalars(
            select(Hold)
            .where(Hold.order_id == order_id, Hold.status == HoldStatus.ORDERED)
            .order_by(Hold.sku, Hold.id)
            .with_for_update()
        )
    )
    for hold in holds:
        change_totals(session, hold.sku, reserved=-hold.qty)
        where = parse_locations(hold.locations)
        change_locations(
            session, hold.sku, {code: Delta(reserved=-units) for code, units in where.items()}, now
        )
        hold.status = to_status
        append_stock_entry(
            session,
            lane,
            hold.sku,
            f"order-expired-h{hold.id}",
            OrderKind.EXPIRE_ORDER,
            {
                "outcome": Outcome.ORDER_UNITS_RETURNED,
                "order_id": order_id,
                "hold_id": hold.id,
                "sku": hold.sku,
                "qty": hold.qty,
            },
            params={"order_id": order_id, "hold_id": hold.id},
            now=now,
        )
    return sorted({hold.sku for hold in holds})


def expire_order(session: Session, batch: OrderBatch, request: QueuedRequest) -> OutcomeDict:
    """Expire an unpaid order past its deadline and return its units; a no-op otherwise."""
    order_id, now = request.params["order_id"], batch.now
    result = session.execute(
        update(Order)
        .where(
            Order.id == order_id,
            Order.status == OrderStatus.PENDING_PAYMENT,
            Order.pay_before <= now,
        )
        .values(status=OrderStatus.EXPIRED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return {"outcome": Outcome.NOOP, "order_id": order_id}
    skus = _return_order_units(session, batch.lane, order_id, HoldStatus.EXPIRED, now)
    return {"outcome": Outcome.ORDER_EXPIRED, "order_id": order_id, "skus": skus}


def cancel_order(session: Session, batch: OrderBatch, request: QueuedRequest) -> OutcomeDict:
    """Cancel an unpaid order (soft delete) and return its units; refuse any other order."""
    order_id, now = request.params["order_id"], batch.now
    result = session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == OrderStatus.PENDING_PAYMENT)
        .values(status=OrderStatus.CANCELLED, deleted_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        status = session.scalar(select(Order.status).where(Order.id == order_id))
        return {"outcome": Outcome.NOT_CANCELLABLE, "order_id": order_id, "status": status}
    skus = _return_order_units(session, batch.lane, order_id, HoldStatus.RELEASED, now)
    return {"outcome": Outcome.ORDER_CANCELLED, "order_id": order_id, "skus": skus}


def paid_unallocated(
    session: Session, order_id: str | None = None, limit: int = 1000
) -> list[tuple[str, str]]:
    """Return (order id, sku) pairs whose paid units still wait for their lane's allocation."""
    stmt = select(Hold.order_id, Hold.sku).where(Hold.status == HoldStatus.PAID).distinct()
    if order_id is not None:
        stmt = stmt.where(Hold.order_id == order_id)
    return [(oid, sku) for oid, sku in session.execute(stmt.order_by(Hold.order_id, Hold.sku).limit(limit))]


def find_order_by_number(session: Session, order_no: str) -> Order:
    """Return the order with this order_no (for operators), or NotFound."""
    order = session.scalar(select(Order).where(Order.order_no == order_no))
    if order is None:
        raise NotFound(f"No order {order_no!r}.", code="order_not_found")
    return order


def find_order(session: Session, cart_id: str, order_id: str) -> Order:
    """Return the cart's order, or NotFound for anyone else's (never confirming it exists)."""
    order = session.get(Order, order_id)
    if order is None or order.cart_id != cart_id:
        raise NotFound("No such order for this cart.", code="order_not_found")
    return order


def order_view(order: Order, now: datetime | None = None) -> dict[str, Any]:
    """Describe an order for its shopper."""
    now = now or utcnow()
    return {
        "order_id": order.id,
        "order_no": order.order_no,
        "order_date": order.order_date.isoformat(),
        "notes": order.notes,
        "status": order.status,
        "deleted_at": order.deleted_at.isoformat() if order.deleted_at else None,
        "total": order.total,
        "currency": "IDR",
        "pay_before": order.pay_before.isoformat(),
        "seconds_left": max(0, int((order.pay_before - now).total_seconds()))
        if order.status == OrderStatus.PENDING_PAYMENT
        else 0,
        "lines": [
            {
                "sku": line.sku,
                "name": line.name,
                "qty": line.qty,
                "uom": line.uom,
                "uom_qty": line.uom_qty,
                "unit_price": line.unit_price,
                "disc_pct": line.disc_pct,
                "disc_amt": line.disc_amt,
                "net_amt": line.net_amt,
                "line_total": line.net_amt,
                "shipped_at": line.shipped_at.isoformat() if line.shipped_at else None,
            }
            for line in order.lines
        ],
    }
