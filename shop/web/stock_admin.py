"""The operator API for stock per location and orders: receipts, movements, shipping, cancelling."""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel

from shop.domain.catalog import find_product, stock_view
from shop.domain.errors import Malformed
from shop.domain.requests import Outcome
from shop.lanes import fulfilment
from shop.web.helpers import answer, body_as, services, valid_sku
from shop.web.operators import operator_required
from shop.web.schemas import requests as rq
from shop.web.schemas import responses as rs

bp = Blueprint("stock_admin", __name__)


def _wait() -> float:
    return current_app.config["ADMIN_WAIT_SECONDS"]


def _answer(model: type[BaseModel], body: dict) -> Response:
    """200 once every stock change in the answer was applied, 202 while one is still in line."""
    queued = any(
        isinstance(o, dict) and o.get("outcome") == Outcome.QUEUED
        for o in [body, *body.get("shipments", []), body.get("cancellation") or {}]
    )
    return answer(model, body, 202 if queued else 200)


def _page_arg(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name, str(default))
    if not re.fullmatch(r"[0-9]{1,7}", raw) or not 1 <= int(raw) <= maximum:
        raise Malformed(f"{name} must be a whole number from 1 to {maximum}.", code=f"invalid_{name}")
    return int(raw)


@bp.post("/admin/products/<sku>/receipts")
@operator_required
def receipt(sku: str) -> Response:
    body = body_as(rq.GoodsReceiptRequest)
    outcome = fulfilment.receive_stock(
        services(), valid_sku(sku), body.location, body.qty, body.uom, body.doc_ref, wait_s=_wait()
    )
    return _answer(rs.StockOutcome, outcome)


@bp.get("/admin/products/<sku>/movements")
@operator_required
def movements(sku: str) -> Response:
    page = _page_arg("page", 1, 1_000_000)
    limit = _page_arg("limit", 20, fulfilment.MOVEMENTS_MAX_LIMIT)
    return answer(rs.Movements, fulfilment.movements_page(services(), valid_sku(sku), page, limit))


@bp.get("/admin/products/<sku>/stock")
@operator_required
def stock(sku: str) -> Response:
    with services().db.reading() as session:
        product = find_product(session, valid_sku(sku))
        return answer(
            rs.LocationStock,
            {"sku": product.sku, "available": product.available, "locations": stock_view(product)},
        )


@bp.get("/admin/orders/<order_no>")
@operator_required
def order(order_no: str) -> Response:
    from shop.domain.orders import find_order_by_number, order_view

    with services().db.reading() as session:
        return answer(rs.Order, order_view(find_order_by_number(session, rq.ORDER_NO.check(order_no))))


@bp.post("/admin/orders/<order_no>/ship")
@operator_required
def ship(order_no: str) -> Response:
    return _answer(
        rs.Shipment, fulfilment.ship_order(services(), rq.ORDER_NO.check(order_no), wait_s=_wait())
    )


@bp.post("/admin/orders/<order_no>/cancel")
@operator_required
def cancel(order_no: str) -> Response:
    return _answer(
        rs.Cancellation, fulfilment.cancel_order(services(), rq.ORDER_NO.check(order_no), wait_s=_wait())
    )
