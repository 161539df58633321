"""Operators' stock and order actions, shared by the admin API and the CLI: receipts, shipping, cancelling.

Each queues its request through the right lane (shop.lanes.admission) and waits briefly for the outcome,
so the operator sees the result; a longer line answers with the queued job instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from shop.domain.catalog import find_product
from shop.domain.errors import Conflict, Invalid
from shop.domain.orders import find_order_by_number, order_view
from shop.domain.products import valid_location
from shop.domain.requests import Outcome
from shop.lanes import admission
from shop.services import Services
from shop.storage.models import ItemMovement, OrderStatus

MAX_RECEIPT_QTY = 10_000_000
MAX_DOC_REF = 50
MOVEMENTS_MAX_LIMIT = 100


def receive_stock(
    services: Services,
    sku: str,
    location: Any,
    qty: Any,
    uom: Any = None,
    doc_ref: Any = None,
    wait_s: float = 5,
) -> dict[str, Any]:
    """Book a goods receipt through the SKU's lane; refuse bad input before anything is queued."""
    code = valid_location(location)
    if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_RECEIPT_QTY:
        raise Invalid(f"qty must be a whole number from 1 to {MAX_RECEIPT_QTY}.", code="invalid_qty")
    if doc_ref is not None and (
        not isinstance(doc_ref, str) or not doc_ref.strip() or len(doc_ref) > MAX_DOC_REF or "\x00" in doc_ref
    ):
        raise Invalid(f"doc_ref must be a text of 1 to {MAX_DOC_REF} characters.", code="invalid_doc_ref")
    with services.db.reading() as session:
        product = find_product(session, sku)
        units = {product.base_uom, *(u.uom for u in product.uoms)}
    if uom is not None and (not isinstance(uom, str) or uom not in units):
        raise Invalid(
            f"{sku} is not counted in {uom!r}; its units are {', '.join(sorted(units))}.",
            code="unknown_uom",
            uom=uom if isinstance(uom, str) else None,
        )
    adm = admission.request_receipt(services, sku, code, qty, uom or "", (doc_ref or "").strip())
    return admission.await_result(services, adm, wait_s)


def ship_order(services: Services, order_no: str, wait_s: float = 5) -> dict[str, Any]:
    """Issue a paid order's goods: each of its SKUs' lanes takes the units off allocated and on hand."""
    with services.db.reading() as session:
        order = find_order_by_number(session, order_no)
        order_id, status = order.id, order.status
        skus = sorted({line.sku for line in order.lines if line.shipped_at is None})
    if status != OrderStatus.PAID or not skus:
        raise Conflict(
            f"Order {order_no} is {status}: only a paid order can be shipped, once.",
            code="order_not_shippable",
            status=status,
        )
    outcomes = [
        admission.await_result(services, adm, wait_s)
        for adm in admission.request_shipment(services, order_id, skus)
    ]
    return {"order_no": order_no, "shipments": outcomes, "order": _order(services, order_no)}


def cancel_order(services: Services, order_no: str, wait_s: float = 5) -> dict[str, Any]:
    """Cancel an unpaid order through its checkout lane (soft delete; units to the waitlist first)."""
    with services.db.reading() as session:
        order = find_order_by_number(session, order_no)
        order_id, cart_id, status = order.id, order.cart_id, order.status
    if status != OrderStatus.PENDING_PAYMENT:
        raise Conflict(
            f"Order {order_no} is {status}: only an unpaid order can be cancelled.",
            code="order_not_cancellable",
            status=status,
        )
    outcome = admission.await_result(services, admission.request_cancel(services, order_id, cart_id), wait_s)
    if outcome.get("outcome") == Outcome.NOT_CANCELLABLE:
        raise Conflict(
            f"Order {order_no} is {outcome.get('status')}: only an unpaid order can be cancelled.",
            code="order_not_cancellable",
            status=outcome.get("status"),
        )
    return {"order_no": order_no, "cancellation": outcome, "order": _order(services, order_no)}


def _order(services: Services, order_no: str) -> dict[str, Any]:
    with services.db.reading() as session:
        return order_view(find_order_by_number(session, order_no))


def movements_page(services: Services, sku: str, page: int, limit: int) -> dict[str, Any]:
    """One page of a SKU's item movements, newest first."""
    with services.db.reading() as session:
        find_product(session, sku)
        total = (
            session.scalar(select(func.count()).select_from(ItemMovement).where(ItemMovement.sku == sku)) or 0
        )
        rows = session.scalars(
            select(ItemMovement)
            .where(ItemMovement.sku == sku)
            .order_by(ItemMovement.id.desc())
            .offset((page - 1) * limit)
            .limit(limit)
        ).all()
        items = [
            {
                "id": m.id,
                "location": m.location_code,
                "movement_type": m.movement_type,
                "doc_type": m.doc_type,
                "doc_ref": m.doc_ref,
                "qty": m.qty,
                "original_qty": m.original_qty,
                "original_uom": m.original_uom,
                "conversion": m.conversion,
                "created_at": m.created_at.isoformat(),
            }
            for m in rows
        ]
    return {
        "sku": sku,
        "items": items,
        "page": page,
        "limit": limit,
        "total": total,
        "pages": -(-total // limit),
    }
