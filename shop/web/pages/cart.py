"""The cart page: held and expired lines, orders awaiting payment, quantity changes and checkout.

``/cart`` is shared with the API: an API client (an X-Cart-Token header, or an Accept header that
does not ask for HTML) gets the API's JSON answer (``shop.web.helpers.cart_answer``).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from flask import Response, redirect, url_for

from shop.domain.carts import cart_view
from shop.domain.catalog import product_view, products_by_sku
from shop.lanes import admission
from shop.storage.models import utcnow
from shop.web.extensions import limiter
from shop.web.helpers import (
    cart_answer,
    cart_limit,
    read_limit,
    services,
    shopper_from_request,
)
from shop.web.pages.shell import (
    api_client,
    bp,
    current_cart,
    form_key,
    form_line,
    html_errors,
    render,
    to_wait,
)


@bp.get("/cart")
def cart() -> Response:
    if api_client():
        return _api_cart()
    return _cart_page()


@limiter.limit(read_limit)
def _api_cart() -> Response:
    return cart_answer()


@html_errors
@limiter.limit(read_limit)
def _cart_page() -> Response:
    cart_id = current_cart()
    view: dict[str, Any] = {"items": [], "total": 0, "open_orders": []}
    products: dict[str, dict[str, Any]] = {}
    pending: list[str] = []
    if cart_id is not None:
        with services().db.reading() as session:
            view = cart_view(session, cart_id)
            rows = products_by_sku(session, {item["sku"] for item in view["items"]})
            products = {sku: product_view(row) for sku, row in rows.items()}
        pending = services().lanes.pending_jobs(cart_id)
    held = [item for item in view["items"] if item["status"] == "held"]
    now = utcnow()
    orders = [
        {**o, "seconds_left": max(0, int((datetime.fromisoformat(o["pay_before"]) - now).total_seconds()))}
        for o in view["open_orders"]
    ]
    return render(
        "cart.html",
        open_orders=orders,
        cart=view,
        held=held,
        products=products,
        pending=pending,
        checkout_key=secrets.token_urlsafe(16),
    )


@bp.post("/cart/items/<sku>")
@html_errors
@limiter.limit(cart_limit)
def change_line(sku: str) -> Response:
    sku, qty = form_line(sku, minimum=0)
    cart_id = current_cart(create=True)
    assert cart_id is not None
    return to_wait(admission.request_quantity(services(), cart_id, sku, qty, shopper=shopper_from_request()))


@bp.post("/cart/checkout")
@html_errors
@limiter.limit(cart_limit)
def checkout() -> Response:
    cart_id = current_cart()
    if cart_id is None:
        return redirect(url_for("pages.cart"), 303)
    return to_wait(admission.request_checkout(services(), cart_id, "page-" + form_key("key")))
