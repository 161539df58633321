"""Checkout turns a cart's holds into an order; payment turns the order into a sale.

Every scenario ends with the integrity audit: whatever the shopper did, no unit is oversold or lost.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shop.storage.models import Hold, HoldStatus, Order, OrderStatus, Payment, PaymentStatus, Product, utcnow
from tests.helpers import (
    GOOD_CARD,
    PRICE,
    assert_audit_clean,
    audit_report,
    checkout,
    count,
    error_code,
    expire_order_in_db,
    hold,
    order_row,
    ordered,
    product_row,
    stock,
)

DECLINED_CARD = "4000000000000002"
OTHER_GOOD_CARD = "5555555555554444"


# --- helpers --------------------------------------------------------------------------------------


def expire_holds_in_db(services, sku: str) -> None:
    with services.db.writing() as session, session.begin():
        session.execute(
            update(Hold).where(Hold.sku == sku).values(expires_at=utcnow() - timedelta(seconds=5))
        )


# --- checkout -------------------------------------------------------------------------------------


def test_checkout_is_accepted_as_a_job(shopper, drain, flash, services):
    hold(shopper, drain, flash, 2)

    response = shopper.checkout()

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    assert response.headers["Location"] == f"/jobs/{body['job_id']}"
    assert_audit_clean(services)


def test_checkout_creates_an_order_for_the_held_lines(shopper, drain, flash, services):
    hold(shopper, drain, flash, 2)

    result = checkout(shopper, drain)

    assert result["outcome"] == "order_created"
    assert result["order_id"].startswith("ord_")
    assert result["total"] == 2 * PRICE
    assert result["pay_before"]
    order = order_row(services, result["order_id"])
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.total == 2 * PRICE
    assert_audit_clean(services)


def test_checkout_turns_the_holds_into_ordered_holds(shopper, drain, flash, services):
    hold(shopper, drain, flash, 2)

    result = checkout(shopper, drain)

    with services.db.reading() as session:
        holds = session.scalars(select(Hold).where(Hold.sku == flash)).all()
    assert [(h.status, h.order_id, h.in_cart) for h in holds] == [
        (HoldStatus.ORDERED, result["order_id"], False)
    ]
    assert_audit_clean(services)


def test_checkout_keeps_the_units_reserved(shopper, drain, flash, services):
    hold(shopper, drain, flash, 2)
    before = stock(services, flash)

    checkout(shopper, drain)

    assert stock(services, flash) == before == (10, 2, 0)
    assert_audit_clean(services)


def test_checked_out_lines_leave_the_cart_and_the_order_is_open(shopper, drain, flash, services):
    hold(shopper, drain, flash, 2)

    result = checkout(shopper, drain)

    cart = shopper.cart().get_json()
    assert cart["items"] == []
    assert cart["total"] == 0
    assert [o["order_id"] for o in cart["open_orders"]] == [result["order_id"]]
    assert_audit_clean(services)


def test_checkout_of_a_cart_with_nothing_in_it_is_empty_cart(shopper, drain, services):
    shopper.cart()  # get a cart token without adding anything

    result = checkout(shopper, drain)

    assert result == {"outcome": "empty_cart"}
    assert count(services, Order) == 0
    assert_audit_clean(services)


def test_checkout_when_the_only_hold_expired_is_holds_expired(shopper, drain, flash, services):
    hold(shopper, drain, flash, 2)
    expire_holds_in_db(services, flash)

    result = checkout(shopper, drain)

    assert result["outcome"] == "holds_expired"
    assert result["missing"] == [flash]
    assert count(services, Order) == 0
    assert_audit_clean(services)


def test_checkout_orders_the_live_lines_and_names_the_expired_ones_missing(
    shopper, drain, flash, make_product, services
):
    other = make_product("FLASH-2", on_hand=10, price=50_000)
    hold(shopper, drain, flash, 2)
    hold(shopper, drain, other, 1)
    expire_holds_in_db(services, other)

    result = checkout(shopper, drain)

    assert result["outcome"] == "order_created"
    assert result["total"] == 2 * PRICE
    assert result["missing"] == [other]
    view = shopper.client.get(f"/orders/{result['order_id']}", headers=shopper.headers).get_json()
    assert [line["sku"] for line in view["lines"]] == [flash]
    assert shopper.cart().get_json()["items"] == []
    assert_audit_clean(services)


def test_checkout_without_a_cart_token_is_refused(client, services):
    response = client.post("/checkout")

    assert response.status_code == 400
    assert error_code(response) == "missing_cart_token"
    assert_audit_clean(services)


def test_checkout_repeated_with_the_same_idempotency_key_is_one_job_and_one_order(
    shopper, drain, flash, services
):
    hold(shopper, drain, flash, 2)

    first = shopper.checkout("checkout-1")
    second = shopper.checkout("checkout-1")
    drain()
    third = shopper.checkout("checkout-1")
    drain()

    assert first.status_code == second.status_code == third.status_code == 202
    job_ids = {r.get_json()["job_id"] for r in (first, second, third)}
    assert len(job_ids) == 1
    assert shopper.result(first)["outcome"] == "order_created"
    assert count(services, Order) == 1
    assert_audit_clean(services)


def test_checkouts_with_different_idempotency_keys_are_different_jobs(shopper, drain, flash, services):
    hold(shopper, drain, flash, 2)

    first = shopper.checkout("checkout-1")
    second = shopper.checkout("checkout-2")
    drain()

    assert first.get_json()["job_id"] != second.get_json()["job_id"]
    assert shopper.result(first)["outcome"] == "order_created"
    assert shopper.result(second) == {"outcome": "empty_cart"}
    assert count(services, Order) == 1
    assert_audit_clean(services)


# --- orders ---------------------------------------------------------------------------------------


def test_the_owner_sees_the_order_with_its_status_and_lines(shopper, drain, flash, services):
    result = ordered(shopper, drain, flash, 2)

    response = shopper.client.get(f"/orders/{result['order_id']}", headers=shopper.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["order_id"] == result["order_id"]
    assert body["status"] == "pending_payment"
    assert body["total"] == 2 * PRICE
    assert body["currency"] == "IDR"
    assert body["seconds_left"] > 0
    assert body["order_no"].startswith("KL-")
    assert body["lines"] == [
        {
            "sku": flash,
            "name": f"Product {flash}",
            "qty": 2,
            "uom": "pcs",
            "uom_qty": 2,
            "unit_price": PRICE,
            "disc_pct": 0,
            "disc_amt": 0,
            "net_amt": 2 * PRICE,
            "line_total": 2 * PRICE,
            "shipped_at": None,
        }
    ]
    assert_audit_clean(services)


def test_another_cart_cannot_see_the_order(shopper, new_shopper, drain, flash, services):
    result = ordered(shopper, drain, flash)
    stranger = new_shopper()
    stranger.cart()

    response = stranger.client.get(f"/orders/{result['order_id']}", headers=stranger.headers)

    assert response.status_code == 404
    assert error_code(response) == "order_not_found"
    assert_audit_clean(services)


# --- payment --------------------------------------------------------------------------------------


def test_paying_with_a_good_card_pays_the_order(shopper, drain, flash, services):
    result = ordered(shopper, drain, flash, 2)

    response = shopper.pay(result["order_id"], result["total"], GOOD_CARD)

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "paid"
    assert body["order_id"] == result["order_id"]
    assert body["amount"] == 2 * PRICE
    assert body["payment_id"].startswith("pay_")
    assert order_row(services, result["order_id"]).status == OrderStatus.PAID
    view = shopper.client.get(f"/orders/{result['order_id']}", headers=shopper.headers).get_json()
    assert view["status"] == "paid"
    assert_audit_clean(services)


def test_a_paid_order_turns_reserved_units_into_allocated_sales_through_the_lane(
    shopper, drain, flash, services
):
    result = ordered(shopper, drain, flash, 2)
    assert stock(services, flash) == (10, 2, 0)

    shopper.pay(result["order_id"], result["total"], GOOD_CARD)

    with services.db.reading() as session:
        assert session.scalars(select(Hold.status).where(Hold.sku == flash)).all() == [HoldStatus.PAID]
    drain()  # the SKU's lane allocates the paid units: they stay on hand until shipped
    assert stock(services, flash) == (10, 0, 2)
    assert product_row(services, flash).allocated == 2
    with services.db.reading() as session:
        assert session.scalars(select(Hold.status).where(Hold.sku == flash)).all() == [HoldStatus.SOLD]
    assert_audit_clean(services)


def test_a_declined_card_leaves_the_order_unpaid_and_the_stock_unchanged(shopper, drain, flash, services):
    result = ordered(shopper, drain, flash, 2)

    response = shopper.pay(result["order_id"], result["total"], DECLINED_CARD)

    assert response.status_code == 200
    assert response.get_json()["status"] == "declined"
    assert order_row(services, result["order_id"]).status == OrderStatus.PENDING_PAYMENT
    assert stock(services, flash) == (10, 2, 0)
    assert_audit_clean(services)


def test_after_a_decline_the_order_can_be_paid_with_another_card_and_key(shopper, drain, flash, services):
    result = ordered(shopper, drain, flash, 2)
    shopper.pay(result["order_id"], result["total"], DECLINED_CARD, key="pay-1")

    response = shopper.pay(result["order_id"], result["total"], GOOD_CARD, key="pay-2")

    assert response.status_code == 200
    assert response.get_json()["status"] == "paid"
    assert order_row(services, result["order_id"]).status == OrderStatus.PAID
    drain()  # the SKU's lane allocates the paid units
    assert stock(services, flash) == (10, 0, 2)
    assert count(services, Payment, Payment.status == PaymentStatus.DECLINED) == 1
    assert count(services, Payment, Payment.status == PaymentStatus.PAID) == 1
    assert_audit_clean(services)


@pytest.mark.parametrize("delta", [-1, 1, -2 * PRICE])
def test_an_amount_other_than_the_order_total_is_refused(shopper, drain, flash, services, delta):
    result = ordered(shopper, drain, flash, 2)

    response = shopper.pay(result["order_id"], result["total"] + delta, GOOD_CARD)

    assert response.status_code == 422
    assert error_code(response) == "amount_mismatch"
    assert order_row(services, result["order_id"]).status == OrderStatus.PENDING_PAYMENT
    assert count(services, Payment) == 0
    assert stock(services, flash) == (10, 2, 0)
    assert_audit_clean(services)


def test_the_amount_mismatch_tells_the_expected_total(shopper, drain, flash, services):
    result = ordered(shopper, drain, flash, 2)

    response = shopper.pay(result["order_id"], 1, GOOD_CARD)

    assert response.get_json()["error"]["details"] == {"expected": 2 * PRICE, "given": 1}
    assert_audit_clean(services)


def test_payment_without_an_idempotency_key_is_refused(shopper, drain, flash, services):
    result = ordered(shopper, drain, flash)
    body = {"order_id": result["order_id"], "amount": result["total"], "card_number": GOOD_CARD}

    response = shopper.client.post("/payment", json=body, headers=shopper.headers)

    assert response.status_code == 400
    assert error_code(response) == "missing_idempotency_key"
    assert count(services, Payment) == 0
    assert_audit_clean(services)


def test_a_repeated_payment_request_is_answered_with_the_same_payment_and_charged_once(
    shopper, drain, flash, services
):
    result = ordered(shopper, drain, flash, 2)

    first = shopper.pay(result["order_id"], result["total"], GOOD_CARD, key="pay-1")
    second = shopper.pay(result["order_id"], result["total"], GOOD_CARD, key="pay-1")

    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert second.get_json()["status"] == "paid"
    assert count(services, Payment) == 1
    drain()  # the SKU's lane allocates the paid units
    assert stock(services, flash) == (10, 0, 2)
    assert_audit_clean(services)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"card": OTHER_GOOD_CARD}, id="other card"),
        pytest.param({"amount": 1}, id="other amount"),
    ],
)
def test_reusing_an_idempotency_key_for_a_different_request_is_refused(
    shopper, drain, flash, services, change
):
    result = ordered(shopper, drain, flash, 2)
    first = shopper.pay(result["order_id"], result["total"], GOOD_CARD, key="pay-1")
    assert first.get_json()["status"] == "paid"
    other = {"amount": result["total"], "card": GOOD_CARD, **change}

    response = shopper.pay(result["order_id"], other["amount"], other["card"], key="pay-1")

    assert response.status_code == 422
    assert error_code(response) == "idempotency_key_reused"
    assert count(services, Payment) == 1
    drain()  # the SKU's lane allocates the paid units
    assert stock(services, flash) == (10, 0, 2)
    assert_audit_clean(services)


def test_paying_another_carts_order_is_not_found(shopper, new_shopper, drain, flash, services):
    result = ordered(shopper, drain, flash, 2)
    stranger = new_shopper()
    stranger.cart()

    response = stranger.pay(result["order_id"], result["total"], GOOD_CARD)

    assert response.status_code == 404
    assert error_code(response) == "order_not_found"
    assert order_row(services, result["order_id"]).status == OrderStatus.PENDING_PAYMENT
    assert count(services, Payment) == 0
    assert_audit_clean(services)


def test_paying_an_order_that_does_not_exist_is_not_found(shopper, drain, flash, services):
    shopper.cart()

    response = shopper.pay("ord_" + "0" * 24, PRICE, GOOD_CARD)

    assert response.status_code == 404
    assert error_code(response) == "order_not_found"
    assert_audit_clean(services)


def test_paying_an_already_paid_order_with_a_new_key_is_a_conflict(shopper, drain, flash, services):
    result = ordered(shopper, drain, flash, 2)
    shopper.pay(result["order_id"], result["total"], GOOD_CARD, key="pay-1")

    response = shopper.pay(result["order_id"], result["total"], GOOD_CARD, key="pay-2")

    assert response.status_code == 409
    assert error_code(response) == "order_already_paid"
    assert count(services, Payment) == 1
    drain()  # the SKU's lane allocates the paid units
    assert stock(services, flash) == (10, 0, 2)
    assert_audit_clean(services)


def test_paying_after_the_payment_deadline_is_refused_as_expired(shopper, drain, flash, services):
    result = ordered(shopper, drain, flash, 2)
    expire_order_in_db(services, result["order_id"])

    response = shopper.pay(result["order_id"], result["total"], GOOD_CARD)

    assert response.status_code == 409
    assert error_code(response) == "order_expired"
    assert count(services, Payment) == 0
    assert stock(services, flash) == (10, 2, 0)
    assert_audit_clean(services)


@pytest.mark.parametrize(
    "card",
    [
        pytest.param("4242424242424241", id="wrong check digit"),
        pytest.param("1234567890123456", id="not a card"),
        pytest.param("4242", id="too short"),
        pytest.param("4242x42424242424", id="not digits"),
        pytest.param("", id="empty"),
    ],
)
def test_a_card_number_that_fails_the_luhn_check_is_refused(shopper, drain, flash, services, card):
    result = ordered(shopper, drain, flash, 2)

    response = shopper.pay(result["order_id"], result["total"], card)

    assert response.status_code == 422
    assert error_code(response) == "invalid_card"
    assert count(services, Payment) == 0
    assert_audit_clean(services)


def test_a_card_number_with_spaces_and_dashes_is_accepted(shopper, drain, flash, services):
    result = ordered(shopper, drain, flash, 2)

    response = shopper.pay(result["order_id"], result["total"], "4242 4242-4242 4242")

    assert response.status_code == 200
    assert response.get_json()["status"] == "paid"
    assert_audit_clean(services)


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param("200000", id="string"),
        pytest.param(200000.0, id="float"),
        pytest.param(True, id="boolean"),
        pytest.param(None, id="null"),
    ],
)
def test_an_amount_that_is_not_a_whole_number_is_a_bad_request(shopper, drain, flash, services, amount):
    result = ordered(shopper, drain, flash, 2)

    response = shopper.pay(result["order_id"], amount, GOOD_CARD)

    assert response.status_code == 400
    assert error_code(response) == "invalid_amount"
    assert count(services, Payment) == 0
    assert_audit_clean(services)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param("{broken", "application/json", id="broken json"),
        pytest.param("[1, 2]", "application/json", id="json array"),
        pytest.param("", "application/json", id="empty body"),
    ],
)
def test_a_payment_body_that_is_not_a_json_object_is_a_bad_request(
    shopper, drain, flash, services, data, content_type
):
    ordered(shopper, drain, flash, 2)
    headers = {**shopper.headers, "Idempotency-Key": "pay-1"}

    response = shopper.client.post("/payment", data=data, content_type=content_type, headers=headers)

    assert response.status_code == 400
    assert error_code(response) == "invalid_json"
    assert count(services, Payment) == 0
    assert_audit_clean(services)


# --- the audit ------------------------------------------------------------------------------------


def corrupt_reserved(services, sku: str, reserved: int) -> None:
    with services.db.writing() as session, session.begin():
        session.execute(update(Product).where(Product.sku == sku).values(reserved=reserved))


def test_the_audit_detects_reserved_units_no_hold_accounts_for(shopper, drain, flash, services):
    hold(shopper, drain, flash, 2)
    corrupt_reserved(services, flash, 3)

    report = audit_report(services)

    assert not report.ok
    assert any(flash in violation for violation in report.violations), report.violations


def test_the_audit_command_exits_0_when_the_books_balance(shopper, drain, flash, app):
    ordered(shopper, drain, flash, 2)

    result = app.test_cli_runner().invoke(args=["shop", "audit"])

    assert result.exit_code == 0, result.output
    assert '"ok": true' in result.output


def test_the_audit_command_exits_1_on_a_violation(shopper, drain, flash, services, app):
    hold(shopper, drain, flash, 2)
    corrupt_reserved(services, flash, 3)

    result = app.test_cli_runner().invoke(args=["shop", "audit"])

    assert result.exit_code == 1, result.output
    assert '"ok": false' in result.output
    assert flash in result.output
