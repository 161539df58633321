"""The request models refuse what the hand-written checks refused, with the same code, in the same order.

Pure validation: no Redis, no database. A body with several faults is refused for the first one in
the order the checks always ran, and pydantic's own wording never reaches the client.
"""

from __future__ import annotations

from typing import Any

import pytest

from shop.domain.errors import ShopError
from shop.web.schemas.base import parse
from shop.web.schemas.products import product_change
from shop.web.schemas.requests import CartRequest, CheckoutRequest, PaymentRequest, catalog_query
from shop.web.statuses import http_status

APPROVED_CARD = "4242 4242-4242 4242"
ORDER_ID = "ord_" + "0" * 24


def refusal(check: Any, *args: Any) -> tuple[int, str, str]:
    with pytest.raises(ShopError) as refused:
        check(*args)
    return http_status(refused.value), refused.value.code, refused.value.message


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"zzz": 1, "name": 5}, 400, "unknown_fields"),
        ({"name": " ", "price": "x"}, 422, "invalid_name"),
        ({"name": "a\x00"}, 422, "invalid_name"),
        ({"price": True}, 422, "invalid_price"),
        ({"max_per_customer": 0}, 422, "invalid_max_per_customer"),
        ({"sale_starts_at": "2026-11-11T12:00:00"}, 422, "invalid_sale_starts_at"),
        ({"base_uom": "pcs\n"}, 422, "invalid_base_uom"),
        ({"price": 10, "normal_price": 5, "uoms": "x"}, 422, "invalid_price"),
        ({"uoms": [{"uom": "BOX", "x": 1}]}, 422, "invalid_uoms"),
        ({"uoms": [{"uom": "BOX", "conversion": 12}]}, 422, "invalid_uom"),
        ({"uoms": [{"uom": "box", "conversion": 1}, {"uom": "box", "conversion": 3}]}, 422, "invalid_uoms"),
        ({"uoms": [{"uom": "pcs", "conversion": 12}]}, 422, "invalid_uoms"),
        ({"location": "jkt"}, 422, "invalid_location"),
    ],
)
def test_a_product_body_is_refused_for_its_first_fault(body, status, code):
    assert refusal(product_change, body)[:2] == (status, code)


def test_a_product_body_becomes_the_change_the_domain_applies():
    change = product_change(
        {
            "name": " TV ",
            "category": "Electronic",
            "price": 5,
            "on_hand": 3,
            "uoms": [{"uom": "box", "conversion": 6}],
        }
    )
    assert change.fields == {"name": "TV", "category": "electronic", "price": 5}
    assert (change.on_hand, change.uoms, change.location) == (3, [("box", 6)], None)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"page": "x", "sortBy": "foo"}, "invalid_page"),
        ({"page": "0"}, "invalid_page"),
        ({"limit": "101"}, "invalid_limit"),
        ({"search": "s" * 101, "category": "c\x00"}, "invalid_text"),
        ({"search": "s" * 101, "category": "c" * 65}, "search_too_long"),
        ({"sortBy": ""}, "invalid_sort"),
        ({"sortBy": "relevance", "sortDir": "bad"}, "invalid_sort"),
        ({"sortDir": ""}, "invalid_sort_dir"),
        ({"page": "1001"}, "page_too_deep"),
        ({"cursor": "garbage"}, "invalid_cursor"),
    ],
)
def test_a_catalog_query_is_refused_for_its_first_fault(args, code):
    assert refusal(catalog_query, args)[1] == code


def test_a_catalog_query_string_reads_as_the_domain_query():
    query = catalog_query({"search": " kaos ", "category": " Fashion ", "sortDir": "ASC", "limit": "5"})
    assert (query.page, query.limit, query.sort_by, query.sort_dir) == (1, 5, "relevance", "asc")
    assert (query.category, query.search) == ("fashion", "kaos")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"qty": "x", "sku": 5}, 400, "invalid_sku"),
        ({"sku": "bad sku!", "qty": 1}, 422, "unknown_sku"),
        ({"sku": "A-1", "allow_partial": "no"}, 422, "invalid_qty"),
        ({"sku": "A-1", "qty": 1.0}, 422, "invalid_qty"),
        ({"sku": "A-1", "qty": 1, "waitlist": 1}, 400, "invalid_waitlist"),
        ({"sku": "A-1", "qty": 1, "uom": None}, 422, "unknown_uom"),
    ],
)
def test_a_cart_request_is_refused_for_its_first_fault(body, status, code):
    assert refusal(parse, CartRequest, body)[:2] == (status, code)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"order_id": "nope", "amount": "1", "card_number": APPROVED_CARD}, 400, "invalid_amount"),
        ({"order_id": "nope", "amount": -1, "card_number": APPROVED_CARD}, 404, "order_not_found"),
        ({"order_id": ORDER_ID, "amount": -1, "card_number": "x"}, 422, "amount_mismatch"),
        ({"order_id": ORDER_ID, "amount": 1, "card_number": "²" * 16}, 422, "invalid_card"),
    ],
)
def test_a_payment_is_refused_for_its_first_fault(body, status, code):
    assert refusal(parse, PaymentRequest, body)[:2] == (status, code)


def test_a_card_number_loses_its_spaces_and_dashes():
    body = parse(PaymentRequest, {"order_id": ORDER_ID, "amount": 1, "card_number": APPROVED_CARD})
    assert body.card_number == "4242424242424242"


def test_checkout_notes_are_a_short_text_without_nul():
    assert parse(CheckoutRequest, {}).notes is None
    assert refusal(parse, CheckoutRequest, {"notes": "a\x00"})[1] == "invalid_notes"
    assert refusal(parse, CheckoutRequest, {"notes": 5})[1] == "invalid_notes"
