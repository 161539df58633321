"""The operator API for stock per location and orders: receipts, movements, shipping, cancelling."""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, jsonify, request

from shop.domain.catalog import find_product, stock_view
from shop.domain.errors import Invalid, Malformed, NotFound
from shop.domain.order_numbers import ORDER_NO_PATTERN
from shop.domain.requests import Outcome
from shop.lanes import fulfilment
from shop.web.helpers import json_body, services, valid_sku
from shop.web.operators import operator_required

bp = Blueprint("stock_admin", __name__)

ORDER_NO = re.compile(ORDER_NO_PATTERN)


def _wait() -> float:
    return current_app.config["ADMIN_WAIT_SECONDS"]


def _answer(body: dict) -> Response:
    queued = any(
        isinstance(o, dict) and o.get("outcome") == Outcome.QUEUED
        for o in [body, *body.get("shipments", []), body.get("cancellation") or {}]
    )
    response = jsonify(body)
    response.status_code = 202 if queued else 200
    return response


def _order_no(raw: str) -> str:
    if not ORDER_NO.match(raw):
        raise NotFound(f"No order {raw[:40]!r}.", code="order_not_found")
    return raw


def _page_arg(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name, str(default))
    if not re.fullmatch(r"[0-9]{1,7}", raw) or not 1 <= int(raw) <= maximum:
        raise Malformed(f"{name} must be a whole number from 1 to {maximum}.", code=f"invalid_{name}")
    return int(raw)


@bp.post("/admin/products/<sku>/receipts")
@operator_required
def receipt(sku: str) -> Response:
    body = json_body()
    unknown = set(body) - {"location", "qty", "uom", "doc_ref"}
    if unknown:
        raise Malformed(f"Unknown fields: {', '.join(sorted(unknown))}.", code="unknown_fields")
    for name in ("uom", "doc_ref"):
        if name in body and not isinstance(body[name], str):
            raise Invalid(f"{name} must be a text when given.", code=f"invalid_{name}")
    outcome = fulfilment.receive_stock(
        services(),
        valid_sku(sku),
        body.get("location"),
        body.get("qty"),
        body.get("uom"),
        body.get("doc_ref"),
        wait_s=_wait(),
    )
    return _answer(outcome)


@bp.get("/admin/products/<sku>/movements")
@operator_required
def movements(sku: str) -> Response:
    page = _page_arg("page", 1, 1_000_000)
    limit = _page_arg("limit", 20, fulfilment.MOVEMENTS_MAX_LIMIT)
    return jsonify(fulfilment.movements_page(services(), valid_sku(sku), page, limit))


@bp.get("/admin/products/<sku>/stock")
@operator_required
def stock(sku: str) -> Response:
    with services().db.reading() as session:
        product = find_product(session, valid_sku(sku))
        return jsonify({"sku": product.sku, "available": product.available, "locations": stock_view(product)})


@bp.get("/admin/orders/<order_no>")
@operator_required
def order(order_no: str) -> Response:
    from shop.domain.orders import find_order_by_number, order_view

    with services().db.reading() as session:
        return jsonify(order_view(find_order_by_number(session, _order_no(order_no))))


@bp.post("/admin/orders/<order_no>/ship")
@operator_required
def ship(order_no: str) -> Response:
    return _answer(fulfilment.ship_order(services(), _order_no(order_no), wait_s=_wait()))


@bp.post("/admin/orders/<order_no>/cancel")
@operator_required
def cancel(order_no: str) -> Response:
    return _answer(fulfilment.cancel_order(services(), _order_no(order_no), wait_s=_wait()))
