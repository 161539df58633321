"""Helpers the blueprints share: services, rate limits, the cart from the request, JSON input,
error responses, and the JSON answers the API and the pages both give at ``/cart`` and
``/orders/<id>``."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from flask import Response, current_app, jsonify, request

from shop.domain.carts import CartTokens, cart_view
from shop.domain.errors import Malformed, NotJson, ShopError
from shop.domain.orders import find_order, order_view
from shop.domain.shoppers import CUSTOMER_HEADER, CUSTOMER_ID_PATTERN, shopper_key
from shop.services import Services
from shop.web.schemas import base
from shop.web.schemas import requests as rq
from shop.web.schemas import responses as rs
from shop.web.schemas.base import Request, parse, serialise
from shop.web.schemas.requests import valid_qty as valid_qty
from shop.web.schemas.requests import valid_sku as valid_sku
from shop.web.statuses import RETRY_STATUSES, http_status

CART_HEADER = "X-Cart-Token"
M = TypeVar("M", bound=Request)
# The pages read the same ids from their paths (shop/web/pages/).
JOB_ID_PATTERN = re.compile(base.JOB_ID_PATTERN)
ORDER_ID_PATTERN = re.compile(base.ORDER_ID_PATTERN)


def services() -> Services:
    return current_app.extensions["shop"]


def cart_limit() -> str:
    return current_app.config["RATE_LIMIT_CART"]


def read_limit() -> str:
    return current_app.config["RATE_LIMIT_READ"]


def payment_limit() -> str:
    return current_app.config["RATE_LIMIT_PAYMENT"]


def cart_tokens() -> CartTokens:
    return current_app.extensions["shop.cart_tokens"]


def cart_from_request(create: bool) -> tuple[str, str]:
    """Return (token, cart id) for the request's cart, issuing a new cart if allowed and absent."""
    token = request.headers.get(CART_HEADER, "").strip()
    if token:
        return token, cart_tokens().verify(token)
    if not create:
        raise Malformed(
            f"This request needs the {CART_HEADER} header of your cart.", code="missing_cart_token"
        )
    return cart_tokens().issue()


def shopper_from_request() -> str:
    """Return the key of the shopper behind the request, for the per-customer limit."""
    config = services().config
    customer = None
    if config.TRUST_CUSTOMER_ID:
        customer = request.headers.get(CUSTOMER_HEADER, "").strip() or None
        if customer is not None and not CUSTOMER_ID_PATTERN.match(customer):
            raise Malformed(
                f"{CUSTOMER_HEADER} must be 1 to 128 printable characters.", code="invalid_customer_id"
            )
    return shopper_key(config.SECRET_KEY, customer, request.remote_addr)


def json_body() -> dict[str, Any]:
    """Return the request's JSON object: 415 for a body not sent as JSON, 400 for anything else.

    Only a declared JSON body is read. text/plain, form-encoded and multipart bodies are what a
    cross-site form can send without a CORS preflight, so accepting them (get_json(force=True))
    would let any page put requests in line from a visitor's browser.
    """
    if not request.is_json and (request.mimetype or request.get_data(cache=True)):
        raise NotJson(
            "This endpoint takes a JSON body: send it with Content-Type: application/json.",
            content_type=(request.content_type or "")[:100] or None,
        )
    data = request.get_json(silent=True) if request.get_data(cache=True) else None
    if not isinstance(data, dict):
        raise Malformed("The request body must be a JSON object.", code="invalid_json")
    return data


def optional_json_body() -> dict[str, Any]:
    """Return the request's JSON object, or {} if it has no body; a non-JSON body is 415 as in json_body."""
    if not request.get_data(cache=True) and (request.is_json or not request.mimetype):
        return {}
    return json_body()


def body_as(model: type[M], optional: bool = False) -> M:
    """Validate the request's JSON body as ``model`` (``optional``: no body reads as {})."""
    return parse(model, optional_json_body() if optional else json_body())


def answer(model: type[Any], data: Any, status: int = 200) -> Response:
    """Answer with ``data`` serialised through its response model (so it is what the document says)."""
    response = jsonify(serialise(model, data, strict=current_app.testing))
    response.status_code = status
    return response


def error_response(error: ShopError, status: int | None = None) -> Response:
    """Answer a domain error as the API's JSON error, with its status (shop.web.statuses) or ``status``."""
    response = jsonify(error.to_dict())
    response.status_code = status or http_status(error)
    if response.status_code in RETRY_STATUSES:
        response.headers["Retry-After"] = str(current_app.config["RETRY_AFTER_SECONDS"])
    return response


def with_cart(response: Response, token: str) -> Response:
    response.headers[CART_HEADER] = token
    return response


def cart_answer() -> Response:
    """Answer ``GET /cart`` for an API client: the cart's lines, orders and requests still in line."""
    token, cart_id = cart_from_request(create=True)
    with services().db.reading() as session:
        view = cart_view(session, cart_id)
    view["cart_token"] = token
    view["pending_jobs"] = services().lanes.pending_jobs(cart_id)
    return with_cart(answer(rs.CartView, view), token)


def order_answer(order_id: str) -> Response:
    """Answer ``GET /orders/<id>`` for an API client: the cart's order, or 404 for anyone else's."""
    token, cart_id = cart_from_request(create=False)
    order_id = rq.ORDER_ID.check(order_id)
    with services().db.reading() as session:
        return with_cart(answer(rs.Order, order_view(find_order(session, cart_id, order_id))), token)
