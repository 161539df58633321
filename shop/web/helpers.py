"""Helpers the blueprints share: services, the cart from the request, JSON input, error responses."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Response, current_app, jsonify, request

from shop.domain.carts import CartTokens
from shop.domain.errors import BadRequest, ShopError, UnsupportedMediaType
from shop.domain.shoppers import CUSTOMER_HEADER, CUSTOMER_ID_PATTERN, shopper_key
from shop.services import Services
from shop.web.schemas.base import Request, parse, serialise
from shop.web.schemas.requests import valid_qty as valid_qty
from shop.web.schemas.requests import valid_sku as valid_sku

CART_HEADER = "X-Cart-Token"
M = TypeVar("M", bound=Request)


def services() -> Services:
    return current_app.extensions["shop"]


def cart_tokens() -> CartTokens:
    return current_app.extensions["shop.cart_tokens"]


def cart_from_request(create: bool) -> tuple[str, str]:
    """Return (token, cart id) for the request's cart, issuing a new cart if allowed and absent."""
    token = request.headers.get(CART_HEADER, "").strip()
    if token:
        return token, cart_tokens().verify(token)
    if not create:
        raise BadRequest(
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
            raise BadRequest(
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
        raise UnsupportedMediaType(
            "This endpoint takes a JSON body: send it with Content-Type: application/json.",
            content_type=(request.content_type or "")[:100] or None,
        )
    data = request.get_json(silent=True) if request.get_data(cache=True) else None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
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


def error_response(error: ShopError) -> Response:
    response = jsonify(error.to_dict())
    response.status_code = error.status
    if error.status in (429, 503):
        response.headers["Retry-After"] = str(current_app.config["RETRY_AFTER_SECONDS"])
    return response


def with_cart(response: Response, token: str) -> Response:
    response.headers[CART_HEADER] = token
    return response
