"""The OpenAPI 3.1 document of the JSON API, served at ``GET /openapi.json``.

Written here as plain data rather than generated, by choice. The views are thin functions that
validate their input with the shared helpers in ``shop.web.helpers`` and answer with ``jsonify``-ed dicts,
so there is nothing for a generator to read: flask-smorest, flask-openapi3 and spectree need every
view rewritten around marshmallow or pydantic models, and apispec (6.10 on PyPI) takes either YAML
from each view's docstring (its Flask plugin) or the same dicts written below, adding a dependency
and no checking. Instead the document is built from the constants the views validate with (SKU and
id patterns, quantity range, page limits, product field limits), so those cannot drift apart, and
``tests/test_openapi.py`` keeps the rest honest: every JSON route of the app is described and
nothing described is missing, and schemathesis fuzzes every operation against the real app and
checks each answer's status, headers and body against this document.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Blueprint, Response, jsonify

from shop.domain.carts import TOKEN_PATTERN
from shop.domain.catalog import COUNT_CAP, MAX_LIMIT, MAX_OFFSET, MAX_SEARCH_LENGTH, SORTS
from shop.domain.cursors import MAX_CURSOR_LENGTH
from shop.domain.order_numbers import ORDER_NO_PATTERN
from shop.domain.orders import MAX_NOTES
from shop.domain.products import (
    INT_FIELDS,
    LOCATION_PATTERN,
    MAX_CONVERSION,
    MAX_UOMS,
    NULLABLE_INT_FIELDS,
    TEXT_FIELDS,
    TIME_FIELDS,
    UOM_PATTERN,
)
from shop.domain.shoppers import CUSTOMER_HEADER, CUSTOMER_ID_PATTERN
from shop.lanes.fulfilment import MAX_DOC_REF, MAX_RECEIPT_QTY, MOVEMENTS_MAX_LIMIT
from shop.web.api import IDEMPOTENCY_KEY_PATTERN, JOB_ID_PATTERN, ORDER_ID_PATTERN
from shop.web.board_paging import DEFAULT_LIMIT as BOARD_DEFAULT_LIMIT
from shop.web.board_paging import MAX_LIMIT as BOARD_MAX_LIMIT
from shop.web.board_paging import MAX_SEARCH_LENGTH as BOARD_MAX_SEARCH_LENGTH
from shop.web.board_paging import SORTS as BOARD_SORTS
from shop.web.helpers import CART_HEADER, MAX_QTY, SKU_PATTERN

bp = Blueprint("openapi", __name__)

JSON = "application/json"
BROWSER_NOTE = (
    "A browser (no X-Cart-Token header, and text/html preferred in Accept) gets the shopper's page "
    "at this path instead; API clients get JSON."
)
Schema = dict[str, Any]


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """A closed object: exactly these properties, the ``required`` ones always present."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
        "additionalProperties": False,
    }


def _int(minimum: int | None = None, maximum: int | None = None) -> Schema:
    schema: Schema = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
MONEY: Schema = {**_int(0), "description": "Whole Rupiah."}
COUNT: Schema = _int(0)
NULLABLE_COUNT: Schema = {"type": ["integer", "null"], "minimum": 0}
SALE_COUNTDOWN: Schema = {
    **NULLABLE_COUNT,
    "description": "In the pre-queue: seconds until the sale starts (0: starting now); null otherwise.",
}
TIME: Schema = {"type": "string", "format": "date-time"}
IDR: Schema = {"const": "IDR"}
SKU: Schema = {"type": "string", "pattern": SKU_PATTERN.pattern, "examples": ["FLASH-PHONE-01"]}
UOM: Schema = {"type": "string", "pattern": UOM_PATTERN.pattern, "examples": ["pcs", "box"]}
LOCATION: Schema = {"type": "string", "pattern": LOCATION_PATTERN.pattern, "examples": ["JKT", "SBY"]}
ORDER_NO: Schema = {"type": "string", "pattern": ORDER_NO_PATTERN, "examples": ["KL-20261201-000123"]}
NULLABLE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
UNIT_LIST: Schema = {
    "type": "array",
    "description": "The units the product is sold in, base unit first (conversion 1).",
    "items": _obj({"uom": UOM, "conversion": _int(1)}),
}


def _answer(description: str, schema: Schema, **headers: str) -> Schema:
    answer: Schema = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        answer["headers"] = {name: {"$ref": f"#/components/headers/{ref}"} for name, ref in headers.items()}
    return answer


def _refusals(*statuses: int) -> dict[str, Schema]:
    return {
        str(status): {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"} for status in statuses
    }


ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Malformed JSON, parameters or cart token."),
    401: ("Unauthorized", "Operator credentials are missing or wrong."),
    403: ("Forbidden", "A state change from an operator's browser session came from another site."),
    404: (
        "NotFound",
        "Unknown, or not yours: forged cart tokens and other carts' jobs and orders are reported as "
        "unknown, never as forbidden.",
    ),
    409: ("Conflict", "The resource's state refuses the request."),
    413: ("PayloadTooLarge", "The body is over 64 KiB."),
    415: (
        "UnsupportedMediaType",
        "The body is not sent as JSON (Content-Type `application/json`): text/plain, form and multipart "
        "bodies are refused, as is a body without a Content-Type.",
    ),
    422: ("Unprocessable", "Well-formed but refused: bad quantity, unknown SKU, wrong amount, ..."),
    429: ("RateLimited", "This client is over its rate limit; retry after `Retry-After` seconds."),
    503: ("Unavailable", "Redis or the database is unreachable; retry after `Retry-After` seconds."),
}


def _components() -> Schema:
    error = _obj(
        {
            "error": _obj(
                {"code": {**STR, "description": "Stable, machine-readable."}, "message": STR},
                {"details": {"type": "object", "description": "Facts about the refusal, by code."}},
            )
        }
    )
    product = _obj(
        {
            "sku": SKU,
            "name": STR,
            "description": STR,
            "category": STR,
            "price": {**MONEY, "description": "What a shopper pays now: the flash price while a sale runs."},
            "normal_price": {**MONEY, "description": "The struck-through normal price."},
            "discount_pct": {**_int(0, 100), "description": "Whole percent off normal_price (rounded down)."},
            "currency": IDR,
            "image": STR,
            "available": {
                **COUNT,
                "description": "Σ over locations of on_hand - reserved - allocated: what can be held now.",
            },
            "sales": COUNT,
            "max_per_cart": _int(1),
            "max_per_customer": {
                "type": ["integer", "null"],
                "minimum": 1,
                "description": "Units one shopper may hold, order and buy across all carts; null: no limit.",
            },
            "sale_starts_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "Requests before it wait in a pre-queue, ordered by a seeded draw.",
            },
            "sale_ends_at": {**NULLABLE_TIME, "description": "After it the normal price applies again."},
            "base_uom": UOM,
            "uoms": UNIT_LIST,
        }
    )
    odds = {
        "description": "For a request in a SKU's line until it is decided (`null` otherwise, or before "
        "the SKU's first stock figures are known): units available now, units held in carts and "
        "unpaid orders (they may come back), the quantity asked for by the requests ahead, and a "
        "verdict from that line: `likely` (enough available for everyone ahead and you), `uncertain` "
        "(only if held units come back), `unlikely` (more is asked for ahead than available plus held). "
        "`waitlist` is true with `unlikely`: you are on the waitlist, not about to get the item.",
        "anyOf": [
            _obj(
                {
                    "available": COUNT,
                    "held": COUNT,
                    "requested_ahead": NULLABLE_COUNT,
                    "verdict": {"enum": ["likely", "uncertain", "unlikely", None]},
                    "waitlist": BOOL,
                }
            ),
            {"type": "null"},
        ],
    }
    eta = {
        "description": "Estimated wait in seconds, as a range, from the line's measured apply rate; "
        "`null` once decided, while the rate is unknown or the line is paused.",
        "anyOf": [_obj({"low": COUNT, "high": _int(1)}), {"type": "null"}],
    }
    admission = _obj(
        {
            "job_id": {"type": "string", "pattern": JOB_ID_PATTERN.pattern},
            "status": {
                "enum": ["queued", "prequeue"],
                "description": "`prequeue`: the sale has not started; at its start a seeded draw gives "
                "every pre-queued request its place.",
            },
            "position": {
                **NULLABLE_COUNT,
                "description": "Requests for the same line ahead of this one; null in the pre-queue.",
            },
            "ticket": NULLABLE_COUNT,
            "sale_starts_in_seconds": SALE_COUNTDOWN,
            "odds": _ref("Odds"),
            "eta_seconds": _ref("Eta"),
            "status_url": STR,
            "cart_token": {"type": "string", "pattern": TOKEN_PATTERN.pattern},
        }
    )
    order_line = _obj(
        {
            "sku": SKU,
            "name": STR,
            "qty": {**_int(1), "description": "Base units."},
            "uom": UOM,
            "uom_qty": {**COUNT, "description": "The quantity as entered, in `uom`."},
            "unit_price": {**MONEY, "description": "The normal price of one base unit."},
            "disc_pct": _int(0, 100),
            "disc_amt": MONEY,
            "net_amt": {**MONEY, "description": "What the line costs: qty x unit_price - disc_amt."},
            "line_total": {**MONEY, "description": "= net_amt."},
            "shipped_at": NULLABLE_TIME,
        }
    )
    results = {
        "held": (
            {
                "sku": SKU,
                "qty": _int(1),
                "added": COUNT,
                "hold_id": _int(1),
                "expires_at": TIME,
                "uom": UOM,
                "uom_qty": COUNT,
            },
            {"partial": {"const": True}, "requested": _int(1)},
        ),
        "unknown_uom": ({"sku": SKU, "uom": {"type": ["string", "null"]}}, {}),
        "sold_out": ({"sku": SKU, "available": {"const": 0}}, {"waitlist_expired": {"const": True}}),
        "insufficient": (
            {"sku": SKU, "available": _int(1), "requested": _int(1)},
            {"waitlist_expired": {"const": True}},
        ),
        "waitlisted": (
            {
                "sku": SKU,
                "qty": _int(1),
                "waitlist_position": COUNT,
                "expires_at": {**TIME, "description": "Until when the entry waits for a returned unit."},
            },
            {},
        ),
        "limit_exceeded": ({"sku": SKU, "max_per_cart": _int(1), "in_cart": COUNT}, {}),
        "customer_limit_exceeded": (
            {"sku": SKU, "max_per_customer": _int(1), "customer_has": COUNT},
            {},
        ),
        "released": ({"sku": SKU, "qty": {"const": 0}, "released": COUNT}, {}),
        "unknown_sku": ({"sku": SKU}, {}),
        "rejected": ({"reason": STR}, {}),
        "order_created": (
            {
                "order_id": {"type": "string", "pattern": ORDER_ID_PATTERN.pattern},
                "order_no": ORDER_NO,
                "total": MONEY,
                "pay_before": TIME,
                "missing": {"type": "array", "items": SKU},
            },
            {},
        ),
        "empty_cart": ({}, {}),
        "holds_expired": ({"missing": {"type": "array", "items": SKU}}, {}),
        "error": ({"message": STR}, {}),
    }
    job_result = {
        "description": "What applying the request did; `null` until it is applied.",
        "anyOf": [
            {"title": outcome, **_obj({"outcome": {"const": outcome}, **required}, optional)}
            for outcome, (required, optional) in results.items()
        ]
        + [{"type": "null"}],
    }
    location_row = _obj(
        {
            "location": LOCATION,
            "priority": COUNT,
            "on_hand": COUNT,
            "reserved": COUNT,
            "allocated": COUNT,
            "available": COUNT,
        }
    )
    lane_sample = _obj({"at": COUNT, "queue": COUNT, "available": COUNT})
    board_row = _obj(
        {
            "sku": SKU,
            "name": STR,
            "on_hand": COUNT,
            "reserved": COUNT,
            "allocated": COUNT,
            "available": COUNT,
            "locations": {"type": "array", "items": location_row},
            "sales": COUNT,
            "expiring_next_minute": COUNT,
            "queue_length": COUNT,
            "last_ticket": COUNT,
            "now_serving": COUNT,
            "lease_holder": {"type": ["string", "null"]},
            "paused": BOOL,
            "applied_per_second": {"type": "number", "minimum": 0},
            "history": {"type": "array", "items": lane_sample},
        }
    )
    stock_change = {
        "description": "The stock change's outcome in the SKU's line; `null` when `on_hand` was not changed.",
        "anyOf": [
            _obj(
                {
                    "outcome": {"const": "stock_set"},
                    "sku": SKU,
                    "on_hand": COUNT,
                    "reserved": COUNT,
                    "allocated": COUNT,
                    "available": COUNT,
                    "location": LOCATION,
                }
            ),
            _obj(
                {
                    "outcome": {"const": "queued"},
                    "job_id": {"type": "string", "pattern": JOB_ID_PATTERN.pattern},
                    "position": COUNT,
                }
            ),
            _obj({"outcome": {"const": "error"}, "message": STR}),
            {"type": "null"},
        ],
    }
    text_fields: dict[str, Schema] = {
        name: {"type": "string", "maxLength": limit} for name, limit in TEXT_FIELDS.items()
    }
    for name in ("name", "category"):
        text_fields[name] = {**text_fields[name], "pattern": r"\S", "description": "Not blank."}
    schemas: dict[str, Schema] = {
        "Error": error,
        "Product": product,
        "CatalogPage": _obj(
            {
                "items": {"type": "array", "items": _ref("Product"), "maxItems": MAX_LIMIT},
                "page": _int(1),
                "limit": _int(1, MAX_LIMIT),
                "total": {**_int(0, COUNT_CAP), "description": f"Exact up to {COUNT_CAP}; beyond, capped."},
                "total_is_lower_bound": {
                    "type": "boolean",
                    "description": f"true when more than {COUNT_CAP} products match: total is then a floor.",
                },
                "pages": COUNT,
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next page; null on the last page.",
                },
            }
        ),
        "CartRequest": {
            "type": "object",
            "description": "Other properties are ignored.",
            "required": ["sku", "qty"],
            "properties": {
                "sku": SKU,
                "qty": _int(1, MAX_QTY),
                "allow_partial": {
                    **BOOL,
                    "default": False,
                    "description": "Hold what is left rather than nothing when fewer units remain.",
                },
                "waitlist": {
                    **BOOL,
                    "default": False,
                    "description": "If the SKU is sold out when this request's turn comes while units are "
                    "held in carts, wait (up to WAITLIST_TTL_SECONDS) for one to come back: the job shows "
                    "`waitlisted`, then `held` when a returned unit is handed over, or `sold_out`.",
                },
                "uom": {
                    **UOM,
                    "description": "The unit `qty` counts (one of the product's `uoms`; default its base "
                    "unit). Limits and stock count base units; an unknown unit is 422 `unknown_uom`.",
                },
            },
        },
        "CheckoutRequest": {
            "type": "object",
            "description": "Optional; other properties are ignored.",
            "properties": {"notes": {"type": "string", "maxLength": MAX_NOTES}},
        },
        "Odds": odds,
        "Eta": eta,
        "Admission": admission,
        "CartView": _obj(
            {
                "items": {
                    "type": "array",
                    "items": _obj(
                        {
                            "sku": SKU,
                            "name": STR,
                            "qty": {**_int(1), "description": "Base units."},
                            "uom": UOM,
                            "uom_qty": COUNT,
                            "unit_price": {
                                **MONEY,
                                "description": "Paid per base unit (fixed at hold time).",
                            },
                            "normal_price": MONEY,
                            "discount_pct": _int(0, 100),
                            "line_total": MONEY,
                            "status": {"enum": ["held", "expired"]},
                            "expires_at": TIME,
                            "seconds_left": COUNT,
                        }
                    ),
                },
                "total": MONEY,
                "currency": IDR,
                "open_orders": {
                    "type": "array",
                    "items": _obj(
                        {
                            "order_id": {"type": "string", "pattern": ORDER_ID_PATTERN.pattern},
                            "order_no": ORDER_NO,
                            "total": MONEY,
                            "pay_before": TIME,
                        }
                    ),
                },
                "cart_token": {"type": "string", "pattern": TOKEN_PATTERN.pattern},
                "pending_jobs": {
                    "type": "array",
                    "items": {"type": "string", "pattern": JOB_ID_PATTERN.pattern},
                },
            }
        ),
        "JobResult": job_result,
        "Job": _obj(
            {
                "job_id": {"type": "string", "pattern": JOB_ID_PATTERN.pattern},
                "status": {
                    "enum": ["queued", "started", "finished", "failed", "waitlisted", "prequeue"],
                    "description": "`waitlisted`: sold out for now, waiting for a unit held in a cart "
                    "to come back; the job then finishes as `held` or `sold_out`. `prequeue`: waiting "
                    "for the sale to start, when a seeded draw gives it its place in line.",
                },
                "position": {
                    "type": ["integer", "null"],
                    "minimum": 0,
                    "description": "Requests ahead in the same line; 0 while applied, null when done.",
                },
                "waitlist_position": {
                    **NULLABLE_COUNT,
                    "description": "While waitlisted: entries ahead of this one (0: the next returned "
                    "unit that fits is yours).",
                },
                "sale_starts_in_seconds": SALE_COUNTDOWN,
                "poll_after_ms": {**_int(500, 10_000), "description": "Wait this long before polling again."},
                "odds": _ref("Odds"),
                "eta_seconds": _ref("Eta"),
                "result": _ref("JobResult"),
            }
        ),
        "Receipt": _obj(
            {
                "job_id": {"type": "string", "pattern": JOB_ID_PATTERN.pattern},
                "sku": {"type": ["string", "null"], "description": "The SKU, for a request in a SKU's line."},
                "lane": {**STR, "description": "The line the request waited in (`sku:<SKU>`, `checkout:N`)."},
                "ticket": {**NULLABLE_COUNT, "description": "The request's ticket in its line."},
                "position_when_joined": {
                    **NULLABLE_COUNT,
                    "description": "Requests ahead of it in the same line when it joined.",
                },
                "enqueued_at": {"type": ["string", "null"], "format": "date-time"},
                "applied_at": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "When its outcome was published.",
                },
                "outcome": _ref("JobResult"),
                "ledger_seq": {
                    **NULLABLE_COUNT,
                    "description": "Its entry in the SKU's ledger, which the audit replays.",
                },
            }
        ),
        "PaymentRequest": {
            "type": "object",
            "description": "Other properties are ignored.",
            "required": ["order_id", "amount", "card_number"],
            "properties": {
                "order_id": {"type": "string", "pattern": ORDER_ID_PATTERN.pattern},
                "amount": {**MONEY, "description": "Must equal the order total."},
                "card_number": {
                    "type": "string",
                    "pattern": r"^[0-9 -]+$",
                    "description": "12 to 19 digits passing the Luhn check; spaces and dashes are ignored. "
                    "4242424242424242 is approved, 4000000000000002 declined.",
                    "examples": ["4242424242424242"],
                },
            },
        },
        "Payment": _obj(
            {
                "payment_id": {"type": "string", "pattern": "^pay_[0-9a-f]{24}$"},
                "order_id": {"type": "string", "pattern": ORDER_ID_PATTERN.pattern},
                "status": {"enum": ["paid", "declined", "refunded", "processing"]},
                "amount": MONEY,
            }
        ),
        "Order": _obj(
            {
                "order_id": {"type": "string", "pattern": ORDER_ID_PATTERN.pattern},
                "order_no": ORDER_NO,
                "order_date": TIME,
                "notes": {"type": ["string", "null"], "maxLength": MAX_NOTES},
                "status": {"enum": ["pending_payment", "paid", "shipped", "expired", "cancelled"]},
                "deleted_at": {**NULLABLE_TIME, "description": "Set when an operator cancelled the order."},
                "total": {**MONEY, "description": "Σ of the lines' net_amt."},
                "currency": IDR,
                "pay_before": TIME,
                "seconds_left": COUNT,
                "lines": {"type": "array", "items": order_line},
            }
        ),
        "Health": _obj({"status": {"const": "ok"}}),
        "Readiness": _obj(
            {
                "status": {"enum": ["ready", "not_ready"]},
                "checks": _obj(
                    {
                        "redis": {"type": "string", "description": "`ok` or `error: <type>`."},
                        "database": {"type": "string", "description": "`ok` or `error: <type>`."},
                    }
                ),
            }
        ),
        "ProductChange": {
            "type": "object",
            "description": "A new product needs name, category and price; an existing one changes only "
            "the fields given. `on_hand` of an existing product goes through the SKU's line.",
            "properties": {
                **text_fields,
                **{name: _int(low, high) for name, (low, high) in INT_FIELDS.items()},
                **{
                    name: {"type": ["integer", "null"], "minimum": low, "maximum": high}
                    for name, (low, high) in NULLABLE_INT_FIELDS.items()
                },
                **{
                    name: {
                        "type": ["string", "null"],
                        "format": "date-time",
                        "description": "ISO 8601 with a time zone (2026-11-11T12:00:00+07:00).",
                    }
                    for name in TIME_FIELDS
                },
                "base_uom": UOM,
                "uoms": {
                    "type": "array",
                    "maxItems": MAX_UOMS,
                    "description": "The extra units, replacing the product's (the base unit is implied).",
                    "items": _obj({"uom": UOM, "conversion": _int(2, MAX_CONVERSION)}),
                },
                "location": {
                    **LOCATION,
                    "description": "Where `on_hand` is counted (default: MAIN, or the SKU's first location).",
                },
            },
            "additionalProperties": False,
        },
        "GoodsReceipt": _obj(
            {"location": LOCATION, "qty": _int(1, MAX_RECEIPT_QTY)},
            {"uom": UOM, "doc_ref": {"type": "string", "minLength": 1, "maxLength": MAX_DOC_REF}},
        ),
        "StockOutcome": {
            "description": "The request's outcome in the SKU's line, or `queued` with its job if the line "
            "is longer than ADMIN_WAIT_SECONDS.",
            "type": "object",
            "required": ["outcome"],
            "properties": {"outcome": STR},
        },
        "Movements": _obj(
            {
                "sku": SKU,
                "items": {
                    "type": "array",
                    "items": _obj(
                        {
                            "id": _int(1),
                            "location": LOCATION,
                            "movement_type": {"enum": ["IN", "OUT"]},
                            "doc_type": {"enum": ["GR", "GI", "ADJ"]},
                            "doc_ref": STR,
                            "qty": {**_int(1), "description": "Base units."},
                            "original_qty": COUNT,
                            "original_uom": UOM,
                            "conversion": _int(1),
                            "created_at": TIME,
                        }
                    ),
                },
                "page": _int(1),
                "limit": _int(1, MOVEMENTS_MAX_LIMIT),
                "total": COUNT,
                "pages": COUNT,
            }
        ),
        "LocationStock": _obj(
            {
                "sku": SKU,
                "available": COUNT,
                "locations": {"type": "array", "items": location_row},
            }
        ),
        "Shipment": _obj(
            {
                "order_no": ORDER_NO,
                "shipments": {"type": "array", "items": _ref("StockOutcome")},
                "order": _ref("Order"),
            }
        ),
        "Cancellation": _obj(
            {"order_no": ORDER_NO, "cancellation": _ref("StockOutcome"), "order": _ref("Order")}
        ),
        "StockChange": stock_change,
        "OperatorProduct": _obj(
            {
                **product["properties"],
                "stock": {"type": "array", "items": location_row},
                "stock_change": _ref("StockChange"),
            }
        ),
        "SaleBoard": _obj(
            {
                "skus": {"type": "array", "items": board_row, "maxItems": BOARD_MAX_LIMIT},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Send as `cursor` for the next page; null on the last page.",
                },
                "limit": _int(1, BOARD_MAX_LIMIT),
                "sortBy": {"enum": list(BOARD_SORTS)},
            }
        ),
        "PauseState": _obj({"sku": SKU, "paused": BOOL}),
        "AuditReport": _obj(
            {
                "ok": BOOL,
                "checked": _obj(
                    {
                        "products": COUNT,
                        "locations": COUNT,
                        "holds": COUNT,
                        "orders": COUNT,
                        "ledger_entries": COUNT,
                    }
                ),
                "violations": {"type": "array", "items": STR},
            }
        ),
    }
    responses = {
        name: _answer(description, _ref("Error"), **_error_headers(status))
        for status, (name, description) in ERROR_RESPONSES.items()
    }
    return {
        "schemas": schemas,
        "responses": responses,
        "parameters": _parameters(),
        "headers": {
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
        },
        "securitySchemes": {
            "operatorBasic": {
                "type": "http",
                "scheme": "basic",
                "description": "OPERATOR_USER / OPERATOR_PASSWORD. Without OPERATOR_PASSWORD the operator "
                "routes answer 404.",
            }
        },
    }


def _error_headers(status: int) -> dict[str, str]:
    if status in (429, 503):
        return {"Retry-After": "RetryAfter"}
    if status == 401:
        return {"WWW-Authenticate": "BasicChallenge"}
    return {}


def _parameters() -> Schema:
    token_schema = {"type": "string", "pattern": TOKEN_PATTERN.pattern}
    token_text = (
        "Your cart's token (bearer secret), from the `cart_token` of an earlier answer. "
        "A malformed token is 400, one this shop did not issue 404."
    )
    key_schema = {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN.pattern}
    return {
        "CartToken": {
            "name": CART_HEADER,
            "in": "header",
            "required": False,
            "description": token_text + " Without it (or with an empty value) a new cart is created.",
            "schema": {"type": "string", "pattern": f"^[ \\t]*({TOKEN_PATTERN.pattern[1:-1]}[ \\t]*)?$"},
        },
        "CartTokenRequired": {
            "name": CART_HEADER,
            "in": "header",
            "required": True,
            "description": token_text,
            "schema": token_schema,
        },
        "PreferWait": {
            "name": "Prefer",
            "in": "header",
            "required": False,
            "description": "`wait=N` (RFC 7240): answer 200 with the job once the request is decided, if "
            "that happens within N seconds (at most LONG_POLL_MAX_SECONDS), else 202 as without it "
            "(also at once when the web process already holds LONG_POLL_SLOTS waits). "
            "Other preferences are ignored, as RFC 7240 asks.",
            "schema": {"type": "string"},
        },
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Repeating a checkout with the same key returns the same job.",
            "schema": key_schema,
        },
        "CartIdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Retry with the same key (and the same X-Cart-Token) after a timeout: the cart's "
            "request is put in line once; a repeat answers with its job (202 while in line, 200 once "
            "applied). The same key with a different request is 422 `idempotency_key_reused`; another "
            "cart's key is another request.",
            "schema": key_schema,
        },
        "IdempotencyKeyRequired": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": True,
            "description": "A repeated key returns the first answer and never charges twice; the same key "
            "with a different body is 422 `idempotency_key_reused`.",
            "schema": key_schema,
        },
        "CustomerId": {
            "name": CUSTOMER_HEADER,
            "in": "header",
            "required": False,
            "description": "The shopper's id, set by an authenticated upstream; counted by the per-customer "
            "limit instead of the client address. Only read when the shop is configured to trust it "
            "(TRUST_CUSTOMER_ID), and ignored otherwise; then it must be 1 to 128 printable ASCII "
            f"characters (`{CUSTOMER_ID_PATTERN.pattern}`), or the answer is 400 `invalid_customer_id`.",
            "schema": {"type": "string"},
        },
        "Sku": {"name": "sku", "in": "path", "required": True, "schema": SKU},
        "JobId": {
            "name": "job_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": JOB_ID_PATTERN.pattern},
        },
        "OrderNo": {
            "name": "order_no",
            "in": "path",
            "required": True,
            "schema": ORDER_NO,
        },
        "OrderId": {
            "name": "order_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": ORDER_ID_PATTERN.pattern},
        },
        "Qty": {
            "name": "qty",
            "in": "path",
            "required": True,
            "description": "The exact number of units the cart should hold; 0 removes the line.",
            "schema": _int(0, MAX_QTY),
        },
    }


def _param(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


def _catalog_parameters() -> list[Schema]:
    def query(name: str, schema: Schema, description: str) -> Schema:
        return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

    return [
        query(
            "page",
            {**_int(1, 1_000_000), "default": 1},
            f"Page number, from 1; pages starting deeper than {MAX_OFFSET} products are refused "
            "(400 `page_too_deep`): follow `next_cursor` instead.",
        ),
        query("limit", {**_int(1, MAX_LIMIT), "default": 10}, "Products per page."),
        query(
            "cursor",
            {"type": "string", "maxLength": MAX_CURSOR_LENGTH},
            "A `next_cursor` from an earlier page: continues that listing, however deep. Other "
            "parameters sent with it must agree with it (400 `cursor_mismatch`).",
        ),
        query(
            "sortBy",
            {"enum": list(SORTS)},
            "Sort key; relevance by default with a search (and only then), sales otherwise.",
        ),
        query(
            "sortDir",
            {"type": "string", "pattern": "^([aA][sS][cC]|[dD][eE][sS][cC])$"},
            "asc or desc (any case); by default desc for sales, newest, discount and relevance.",
        ),
        query("category", {"type": "string", "maxLength": 64}, "Only this category (any case)."),
        query(
            "search",
            {"type": "string", "maxLength": MAX_SEARCH_LENGTH},
            "Every word must begin a word of the name, description or category, ignoring case and "
            "accents; terms with other characters (`100%`) must also appear as written.",
        ),
    ]


def _board_parameters() -> list[Schema]:
    def query(name: str, schema: Schema, description: str) -> Schema:
        return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

    return [
        query("limit", {**_int(1, BOARD_MAX_LIMIT), "default": BOARD_DEFAULT_LIMIT}, "Rows per page."),
        query(
            "sortBy",
            {"enum": list(BOARD_SORTS), "default": "hottest"},
            "hottest: most recent arrivals first; in_line: longest line first; available: fewest free "
            "units first; expiring: most units in holds expiring within a minute first. After the "
            "ranked SKUs, the others follow in SKU order.",
        ),
        query(
            "search",
            {"type": "string", "maxLength": BOARD_MAX_SEARCH_LENGTH, "pattern": "^[^\\u0000]*$"},
            "Only SKUs whose SKU or name contains this, ignoring case.",
        ),
        query(
            "cursor",
            {"type": "string", "maxLength": 1000},
            "The `next_cursor` of the previous page: 400 `invalid_cursor` if it is not one, 400 "
            "`cursor_expired` once its walk's ranking has gone (5 minutes unused).",
        ),
    ]


def _cart_operations(spelling: str) -> dict[str, Schema]:
    """The cart routes, served as /chart (the original brief's spelling) and as /cart."""
    tag = ["cart"]
    admitted = _answer(
        "In line: poll `status_url` for the outcome.",
        _ref("Admission"),
        Location="JobLocation",
        **{CART_HEADER: "CartToken"},
    )
    repeated = _answer(
        "Decided within `Prefer: wait=N`, or a repeat (same cart, same Idempotency-Key) of a request "
        "that is being applied or was decided: its job, as `GET /jobs/{job_id}` shows it.",
        _ref("Job"),
        Location="JobLocation",
        **{CART_HEADER: "CartToken"},
    )
    return {
        f"/{spelling}": {
            "post": {
                "operationId": f"add_to_{spelling}",
                "tags": tag,
                "summary": "Put 'add qty units of sku to my cart' in the SKU's line.",
                "parameters": [
                    _param("CartToken"),
                    _param("CustomerId"),
                    _param("CartIdempotencyKey"),
                    _param("PreferWait"),
                ],
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("CartRequest")}}},
                "responses": {
                    "200": repeated,
                    "202": admitted,
                    **_refusals(400, 404, 413, 415, 422, 429, 503),
                },
            },
            "get": {
                "operationId": f"show_{spelling}",
                "tags": tag,
                "summary": "The cart's lines, totals, open orders and requests still in line.",
                **({"description": BROWSER_NOTE} if spelling == "cart" else {}),
                "parameters": [_param("CartToken")],
                "responses": {
                    "200": _answer("The cart.", _ref("CartView"), **{CART_HEADER: "CartToken"}),
                    **_refusals(400, 404, 429, 503),
                },
            },
        },
        f"/{spelling}/{{sku}}/{{qty}}": {
            "put": {
                "operationId": f"set_{spelling}_quantity",
                "tags": tag,
                "summary": "Put 'my cart should hold exactly qty units of sku' in the SKU's line.",
                "parameters": [
                    _param("Sku"),
                    _param("Qty"),
                    _param("CartToken"),
                    _param("CustomerId"),
                    {
                        "name": "uom",
                        "in": "query",
                        "required": False,
                        "description": "The unit `qty` counts (default the base unit); also accepted as "
                        '`{"uom": ...}` in a JSON body.',
                        "schema": UOM,
                    },
                    _param("CartIdempotencyKey"),
                    _param("PreferWait"),
                ],
                "responses": {"200": repeated, "202": admitted, **_refusals(400, 404, 415, 422, 429, 503)},
            }
        },
    }


def _paths() -> Schema:
    operator = [{"operatorBasic": []}]
    admitted = _answer(
        "In line: poll `status_url` for the outcome.",
        _ref("Admission"),
        Location="JobLocation",
        **{CART_HEADER: "CartToken"},
    )
    with_token = {CART_HEADER: "CartToken"}
    return {
        "/catalogs": {
            "get": {
                "operationId": "list_catalog",
                "tags": ["catalog"],
                "summary": "One page of products; filters combine.",
                "parameters": _catalog_parameters(),
                "responses": {
                    "200": _answer("A page of products.", _ref("CatalogPage")),
                    **_refusals(400, 429, 503),
                },
            }
        },
        "/catalogs/{sku}": {
            "get": {
                "operationId": "get_product",
                "tags": ["catalog"],
                "summary": "One product.",
                "parameters": [_param("Sku")],
                "responses": {
                    "200": _answer("The product.", _ref("Product")),
                    **_refusals(404, 429, 503),
                },
            }
        },
        **_cart_operations("chart"),
        **_cart_operations("cart"),
        "/jobs/{job_id}": {
            "get": {
                "operationId": "get_job",
                "tags": ["cart"],
                "summary": "A request's place in line and, once applied, its outcome.",
                "description": "Only the cart that made the job may read it; anyone else, or a job Redis "
                "no longer knows, gets 404 `unknown_job` with `details.retry: true`.",
                "parameters": [
                    _param("JobId"),
                    _param("CartTokenRequired"),
                    {
                        "name": "wait",
                        "in": "query",
                        "required": False,
                        "description": "Long-poll: answer as soon as the job is finished or failed, or "
                        "after this many seconds with its place then (0 to LONG_POLL_MAX_SECONDS, "
                        "10 by default; beyond it 400 `invalid_wait`). A process holding "
                        "LONG_POLL_SLOTS waits already answers at once: then follow `poll_after_ms`.",
                        "schema": {"type": "string", "pattern": "^[0-9]{1,6}$"},
                    },
                ],
                "responses": {
                    "200": _answer("The job.", _ref("Job"), **with_token),
                    **_refusals(400, 404, 429, 503),
                },
            }
        },
        "/jobs/{job_id}/receipt": {
            "get": {
                "operationId": "get_job_receipt",
                "tags": ["cart"],
                "summary": "A decided request's receipt: ticket, times, outcome, place when it joined.",
                "description": "Kept as long as the job's result (RESULT_TTL_SECONDS, a day). Only the "
                "cart that made the job may read it; 409 `not_finished` while it is still in line.",
                "parameters": [_param("JobId"), _param("CartTokenRequired")],
                "responses": {
                    "200": _answer("The receipt.", _ref("Receipt"), **with_token),
                    **_refusals(400, 404, 409, 429, 503),
                },
            }
        },
        "/checkout": {
            "post": {
                "operationId": "checkout",
                "tags": ["checkout"],
                "summary": "Put 'turn my cart's live holds into an order' in the cart's checkout line.",
                "parameters": [_param("CartTokenRequired"), _param("IdempotencyKey"), _param("PreferWait")],
                "requestBody": {"required": False, "content": {JSON: {"schema": _ref("CheckoutRequest")}}},
                "responses": {
                    "200": _answer(
                        "Decided within `Prefer: wait=N`: its job, as `GET /jobs/{job_id}` shows it.",
                        _ref("Job"),
                        Location="JobLocation",
                        **with_token,
                    ),
                    "202": admitted,
                    **_refusals(400, 404, 413, 415, 422, 429, 503),
                },
            }
        },
        "/payment": {
            "post": {
                "operationId": "pay",
                "tags": ["checkout"],
                "summary": "Pay an order (synchronously, through the card gateway).",
                "parameters": [_param("CartTokenRequired"), _param("IdempotencyKeyRequired")],
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("PaymentRequest")}}},
                "responses": {
                    "200": _answer("The payment: paid or declined.", _ref("Payment"), **with_token),
                    **_refusals(400, 404, 409, 413, 415, 422, 429, 503),
                },
            }
        },
        "/orders/{order_id}": {
            "get": {
                "operationId": "get_order",
                "tags": ["checkout"],
                "summary": "One of the cart's orders.",
                "description": BROWSER_NOTE,
                "parameters": [_param("OrderId"), _param("CartTokenRequired")],
                "responses": {
                    "200": _answer("The order.", _ref("Order"), **with_token),
                    **_refusals(400, 404, 429, 503),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "tags": ["health"],
                "summary": "The process is up.",
                "responses": {"200": _answer("Up.", _ref("Health"))},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "tags": ["health"],
                "summary": "Ready when Redis and the database both answer.",
                "responses": {
                    "200": _answer("Ready.", _ref("Readiness")),
                    "503": _answer("Not ready; `checks` names what does not answer.", _ref("Readiness"))
                    | {"headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}},
                },
            }
        },
        "/admin/products/{sku}": {
            "put": {
                "operationId": "put_product",
                "tags": ["operators"],
                "summary": "Create a product with its stock, or change one.",
                "description": "A stock change of an existing product goes through the SKU's line and waits "
                "up to ADMIN_WAIT_SECONDS for its turn: 200 when applied, 202 when still in line, 409 "
                "`below_reserved` if the figure is below what carts and orders reserve.",
                "security": operator,
                "parameters": [{**_parameters()["Sku"], "example": "FLASH-TV-01"}],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": _ref("ProductChange"),
                            "example": {
                                "name": "Smart TV 43 inch",
                                "category": "electronic",
                                "price": 2_999_000,
                                "on_hand": 20,
                                "max_per_cart": 1,
                            },
                        }
                    },
                },
                "responses": {
                    "200": _answer("Changed.", _ref("OperatorProduct")),
                    "201": _answer("Created.", _ref("OperatorProduct")),
                    "202": _answer(
                        "Details changed; the stock change is still in line.", _ref("OperatorProduct")
                    ),
                    **_refusals(400, 401, 403, 404, 409, 413, 415, 422, 503),
                },
            }
        },
        "/admin/products/{sku}/receipts": {
            "post": {
                "operationId": "receive_stock",
                "tags": ["operators"],
                "summary": "Book a goods receipt at a location, through the SKU's line (a GR movement).",
                "security": operator,
                "parameters": [_param("Sku")],
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("GoodsReceipt")}}},
                "responses": {
                    "200": _answer("Received.", _ref("StockOutcome")),
                    "202": _answer("Still in line.", _ref("StockOutcome")),
                    **_refusals(400, 401, 403, 404, 413, 415, 422, 503),
                },
            }
        },
        "/admin/products/{sku}/movements": {
            "get": {
                "operationId": "list_movements",
                "tags": ["operators"],
                "summary": "The SKU's item movements, newest first, paged.",
                "security": operator,
                "parameters": [
                    _param("Sku"),
                    {"name": "page", "in": "query", "required": False, "schema": _int(1, 1_000_000)},
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": _int(1, MOVEMENTS_MAX_LIMIT),
                    },
                ],
                "responses": {
                    "200": _answer("One page of movements.", _ref("Movements")),
                    **_refusals(400, 401, 404, 422, 503),
                },
            }
        },
        "/admin/products/{sku}/stock": {
            "get": {
                "operationId": "location_stock",
                "tags": ["operators"],
                "summary": "The SKU's stock per location.",
                "security": operator,
                "parameters": [_param("Sku")],
                "responses": {
                    "200": _answer("Stock per location.", _ref("LocationStock")),
                    **_refusals(401, 404, 422, 503),
                },
            }
        },
        "/admin/orders/{order_no}": {
            "get": {
                "operationId": "operator_order",
                "tags": ["operators"],
                "summary": "An order by its number.",
                "security": operator,
                "parameters": [_param("OrderNo")],
                "responses": {"200": _answer("The order.", _ref("Order")), **_refusals(401, 404, 503)},
            }
        },
        "/admin/orders/{order_no}/ship": {
            "post": {
                "operationId": "ship_order",
                "tags": ["operators"],
                "summary": "Ship a paid order: a goods issue through each of its SKUs' lines.",
                "security": operator,
                "parameters": [_param("OrderNo")],
                "responses": {
                    "200": _answer("Shipped.", _ref("Shipment")),
                    "202": _answer("Still in line.", _ref("Shipment")),
                    **_refusals(401, 403, 404, 409, 503),
                },
            }
        },
        "/admin/orders/{order_no}/cancel": {
            "post": {
                "operationId": "cancel_order",
                "tags": ["operators"],
                "summary": "Cancel an unpaid order (soft delete); its units go to the waitlist first.",
                "security": operator,
                "parameters": [_param("OrderNo")],
                "responses": {
                    "200": _answer("Cancelled.", _ref("Cancellation")),
                    "202": _answer("Still in line.", _ref("Cancellation")),
                    **_refusals(401, 403, 404, 409, 503),
                },
            }
        },
        "/admin/skus": {
            "get": {
                "operationId": "sale_board",
                "tags": ["operators"],
                "summary": "One page of the sale board: a row per SKU, hottest first unless sortBy says.",
                "description": "A walk with `cursor` follows the ranking as it was on its first page and "
                "lists every SKU once; its rows' figures are live. A cursor carries its sortBy and search.",
                "security": operator,
                "parameters": _board_parameters(),
                "responses": {
                    "200": _answer("One page of the board.", _ref("SaleBoard")),
                    **_refusals(400, 401, 404, 503),
                },
            }
        },
        "/admin/skus/{sku}/pause": {
            "post": {
                "operationId": "pause_sku",
                "tags": ["operators"],
                "summary": "Keep accepting the SKU's requests into line but apply none until resumed.",
                "security": operator,
                "parameters": [_param("Sku")],
                "responses": {
                    "200": _answer("Paused.", _ref("PauseState")),
                    **_refusals(401, 403, 404, 422, 503),
                },
            }
        },
        "/admin/skus/{sku}/resume": {
            "post": {
                "operationId": "resume_sku",
                "tags": ["operators"],
                "summary": "Apply the SKU's line again, in ticket order.",
                "security": operator,
                "parameters": [_param("Sku")],
                "responses": {
                    "200": _answer("Resumed.", _ref("PauseState")),
                    **_refusals(401, 403, 404, 422, 503),
                },
            }
        },
        "/admin/audit": {
            "post": {
                "operationId": "audit",
                "tags": ["operators"],
                "summary": "Check every stock invariant over the whole database.",
                "security": operator,
                "responses": {
                    "200": _answer("The audit report.", _ref("AuditReport")),
                    **_refusals(401, 403, 404, 503),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["meta"],
                "summary": "This document.",
                "responses": {"200": _answer("The OpenAPI document.", {"type": "object"})},
            }
        },
    }


@cache
def document() -> Schema:
    """Build the document once per process; it depends only on code, never on configuration."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flash-sale checkout",
            "version": "1.0.0",
            "description": "Cart requests are put in line per SKU and answered at once with a job to poll. "
            'Every error is `{"error": {"code", "message", "details"?}}`. Prices are whole Rupiah.',
        },
        "tags": [
            {"name": "catalog"},
            {"name": "cart", "description": "Every cart route is served as /chart and as /cart."},
            {"name": "checkout"},
            {"name": "health"},
            {"name": "operators", "description": "HTTP Basic; 404 when no operator password is set."},
            {"name": "meta"},
        ],
        "paths": _paths(),
        "components": _components(),
    }
