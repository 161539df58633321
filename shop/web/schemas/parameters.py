"""The API's path, query and header parameters, its refusals and its response headers, for the document.

Each parameter's schema is that of the type its view checks it with (``shop.web.schemas.requests``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shop.domain.carts import TOKEN_PATTERN
from shop.domain.shoppers import CUSTOMER_HEADER, CUSTOMER_ID_PATTERN
from shop.lanes.fulfilment import MOVEMENTS_MAX_LIMIT
from shop.web.helpers import CART_HEADER
from shop.web.schemas import requests as rq
from shop.web.schemas.base import DocumentSchema

Schema = dict[str, Any]

HEADERS: Schema = {
    "RetryAfter": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "CartToken": {
        "description": "The cart's bearer token: send it back as the X-Cart-Token header.",
        "required": True,
        "schema": {"type": "string", "pattern": TOKEN_PATTERN.pattern},
    },
    "JobLocation": {
        "description": "Where to poll the request's job.",
        "required": True,
        "schema": {"type": "string", "pattern": "^/jobs/"},
    },
    "BasicChallenge": {
        "description": "The HTTP Basic challenge.",
        "required": True,
        "schema": {"type": "string", "pattern": "^Basic "},
    },
}


def error_headers(status: int) -> dict[str, str]:
    """The headers a refusal of this status always carries."""
    if status in (429, 503):
        return {"Retry-After": "RetryAfter"}
    if status == 401:
        return {"WWW-Authenticate": "BasicChallenge"}
    return {}


def _path(name: str, schema: Schema, **more: Any) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema, **more}


def _header(name: str, required: bool, description: str, schema: Schema) -> Schema:
    return {"name": name, "in": "header", "required": required, "description": description, "schema": schema}


def parameters() -> Schema:
    """The parameters operations refer to by name (``#/components/parameters/<name>``)."""
    token = {"type": "string", "pattern": TOKEN_PATTERN.pattern}
    token_text = (
        "Your cart's token (bearer secret), from the `cart_token` of an earlier answer. "
        "A malformed token is 400, one this shop did not issue 404."
    )
    key = rq.IDEMPOTENCY_KEY.json_schema()
    return {
        "CartToken": _header(
            CART_HEADER,
            False,
            token_text + " Without it (or with an empty value) a new cart is created.",
            {"type": "string", "pattern": f"^[ \\t]*({TOKEN_PATTERN.pattern[1:-1]}[ \\t]*)?$"},
        ),
        "CartTokenRequired": _header(CART_HEADER, True, token_text, token),
        "PreferWait": _header(
            "Prefer",
            False,
            "`wait=N` (RFC 7240): answer 200 with the job once the request is decided, if that happens "
            "within N seconds (at most LONG_POLL_MAX_SECONDS), else 202 as without it (also at once when "
            "the web process already holds LONG_POLL_SLOTS waits). Other preferences are ignored, as "
            "RFC 7240 asks.",
            {"type": "string"},
        ),
        "IdempotencyKey": _header(
            "Idempotency-Key", False, "Repeating a checkout with the same key returns the same job.", key
        ),
        "CartIdempotencyKey": _header(
            "Idempotency-Key",
            False,
            "Retry with the same key (and the same X-Cart-Token) after a timeout: the cart's request is "
            "put in line once; a repeat answers with its job (202 while in line, 200 once applied). The "
            "same key with a different request is 422 `idempotency_key_reused`; another cart's key is "
            "another request.",
            key,
        ),
        "IdempotencyKeyRequired": _header(
            "Idempotency-Key",
            True,
            "A repeated key returns the first answer and never charges twice; the same key with a "
            "different body is 422 `idempotency_key_reused`.",
            key,
        ),
        "CustomerId": _header(
            CUSTOMER_HEADER,
            False,
            "The shopper's id, set by an authenticated upstream; counted by the per-customer limit "
            "instead of the client address. Only read when the shop is configured to trust it "
            "(TRUST_CUSTOMER_ID), and ignored otherwise; then it must be 1 to 128 printable ASCII "
            f"characters (`{CUSTOMER_ID_PATTERN.pattern}`), or the answer is 400 `invalid_customer_id`.",
            {"type": "string"},
        ),
        "Sku": _path("sku", rq.SKU.json_schema()),
        "JobId": _path("job_id", rq.JOB_ID.json_schema()),
        "OrderNo": _path("order_no", rq.ORDER_NO.json_schema()),
        "OrderId": _path("order_id", rq.ORDER_ID.json_schema()),
        "ProductSku": _path("sku", rq.SKU.json_schema(), example="FLASH-TV-01"),
        "Qty": _path(
            "qty",
            rq.QTY[0].json_schema(),
            description="The exact number of units the cart should hold; 0 removes the line.",
        ),
        "Uom": _query(
            "uom",
            rq.UOM.json_schema(),
            'The unit `qty` counts (default the base unit); also accepted as `{"uom": ...}` in a JSON body.',
        ),
        "Wait": _query(
            "wait",
            {"type": "string", "pattern": "^[0-9]{1,6}$"},
            "Long-poll: answer as soon as the job is finished or failed, or after this many seconds with "
            "its place then (0 to LONG_POLL_MAX_SECONDS, 10 by default; beyond it 400 `invalid_wait`). A "
            "process holding LONG_POLL_SLOTS waits already answers at once: then follow `poll_after_ms`.",
        ),
        "MovementsPage": _query("page", {"type": "integer", "minimum": 1, "maximum": 1_000_000}),
        "MovementsLimit": _query("limit", {"type": "integer", "minimum": 1, "maximum": MOVEMENTS_MAX_LIMIT}),
    }


def _query(name: str, schema: Schema, description: str | None = None) -> Schema:
    described = {"name": name, "in": "query", "required": False, "schema": schema}
    return described | ({"description": description} if description else {})


def expanded(name: str) -> list[Schema]:
    """The parameters an operation names: a component's reference, or a query string's ("*name")."""
    if name == "*catalog":
        return query_parameters(rq.CatalogArgs)
    if name == "*board":
        return query_parameters(rq.BoardArgs)
    return [{"$ref": f"#/components/parameters/{name}"}]


def query_parameters(model: type[BaseModel]) -> list[Schema]:
    """A query-string model's fields as query parameters (their names as sent, their wire schemas)."""
    properties = model.model_json_schema(schema_generator=DocumentSchema)["properties"]
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": schema.pop("description"),
            "schema": schema,
        }
        for name, schema in properties.items()
    ]
