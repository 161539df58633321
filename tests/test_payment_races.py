"""Payments racing each other and the order's deadline, over real HTTP, with a slow card gateway.

One Idempotency-Key is at most one charge, ever; a duplicate waits for the first and returns its
answer; one order has at most one payment attempt in flight; every answer says what really happened.
Every scenario ends with the integrity audit.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from shop.domain import payments
from shop.domain.errors import GatewayError
from shop.domain.gateway import Charge, SimulatedGateway
from shop.storage.models import Order, OrderStatus, Payment, PaymentStatus, utcnow
from tests.helpers import (
    GOOD_CARD,
    PRICE,
    assert_audit_clean,
    count,
    expire_order_in_db,
    order_row,
    stock,
    wait_until,
)
from tests.http_server import call, serve

# A slow card processor: long enough for every concurrent request to arrive during the charge.
SLOW_CHARGE_S = 1.0
GATE_TIMEOUT_S = 30.0


class SlowGateway(SimulatedGateway):
    """The simulated processor, slowed down, optionally held at the charge until a test releases it."""

    def __init__(self, redis, delay: float = 0.0, gated: bool = False) -> None:
        super().__init__(redis)
        self.delay = delay
        self.charging = threading.Event()
        self.release = threading.Event()
        if not gated:
            self.release.set()
        self.failing_refunds = 0

    def charge(self, *, amount: int, card_number: str, idempotency_key: str) -> Charge:
        result = super().charge(amount=amount, card_number=card_number, idempotency_key=idempotency_key)
        self.charging.set()
        time.sleep(self.delay)
        assert self.release.wait(GATE_TIMEOUT_S), "the test never released the charge"
        return result

    def refund(self, *, reference: str, amount: int) -> None:
        super().refund(reference=reference, amount=amount)
        if self.failing_refunds:
            self.failing_refunds -= 1
            raise GatewayError("the processor timed out")


def install(services, **options: Any) -> SlowGateway:
    gateway = SlowGateway(services.redis, **options)
    services.gateway = gateway
    return gateway


def pay_over_http(host: str, token: str, order_id: str, key: str, card: str = GOOD_CARD):
    headers = {"X-Cart-Token": token, "Idempotency-Key": key}
    body = {"order_id": order_id, "amount": 2 * PRICE, "card_number": card}
    status, _headers, answer = call(host, "POST", "/payment", body, headers)
    return status, answer


def pay_concurrently(app, shopper, order_id: str, keys: list[str]) -> list[tuple[int, dict]]:
    """Send one payment per key at the same moment, over real HTTP; return (status, body) in key order."""
    start = threading.Barrier(len(keys))

    def one(key: str) -> tuple[int, dict]:
        start.wait()
        return pay_over_http(host, shopper.token, order_id, key)

    with serve(app) as host, ThreadPoolExecutor(len(keys)) as pool:
        return list(pool.map(one, keys))


def payments_of(services, order_id: str) -> list[Payment]:
    with services.db.reading() as session:
        return list(session.scalars(select(Payment).where(Payment.order_id == order_id)))


def in_background(fn, *args):
    """Run fn(*args) in a thread; return a function that waits for and returns its result."""
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", fn(*args)), daemon=True)
    thread.start()

    def result():
        thread.join(GATE_TIMEOUT_S)
        assert "result" in box, "the request never answered"
        return box["result"]

    return result


# --- one key, many requests ---------------------------------------------------------------------


def test_eight_concurrent_payments_with_one_key_charge_once_and_all_answer_paid(
    app, shopper, order, services
):
    gateway = install(services, delay=SLOW_CHARGE_S)

    answers = pay_concurrently(app, shopper, order["order_id"], ["double-click"] * 8)

    assert [status for status, _ in answers] == [200] * 8, answers
    assert {body["status"] for _, body in answers} == {"paid"}
    assert len({body["payment_id"] for _, body in answers}) == 1
    (payment_id,) = {body["payment_id"] for _, body in answers}
    assert gateway.charge_calls(payment_id) == 1
    assert_audit_clean(services)


def test_a_paid_orders_payment_is_never_refunded_by_a_concurrent_duplicate(app, shopper, order, services):
    gateway = install(services, delay=SLOW_CHARGE_S)

    pay_concurrently(app, shopper, order["order_id"], ["double-click"] * 8)

    (payment,) = payments_of(services, order["order_id"])
    assert payment.status == PaymentStatus.PAID
    assert gateway.refund_calls(payment.provider_reference) == 0
    assert order_row(services, order["order_id"]).status == OrderStatus.PAID
    replay = shopper.pay(order["order_id"], 2 * PRICE, key="double-click")
    assert replay.status_code == 200
    assert replay.get_json()["status"] == "paid"
    assert_audit_clean(services)


def wait_for_log(caplog, text: str) -> None:
    logged = wait_until(lambda: any(text in record.getMessage() for record in caplog.records), GATE_TIMEOUT_S)
    assert logged, f"{text!r} was never logged"


def test_a_duplicate_sent_during_the_charge_waits_and_returns_the_first_answer(
    app, shopper, order, services, caplog
):
    caplog.set_level(logging.INFO, logger="shop.domain.payments")
    gateway = install(services, gated=True)
    with serve(app) as host:
        first = in_background(pay_over_http, host, shopper.token, order["order_id"], "key-1")
        assert gateway.charging.wait(GATE_TIMEOUT_S)
        duplicate = in_background(pay_over_http, host, shopper.token, order["order_id"], "key-1")
        wait_for_log(caplog, "waits for the attempt in flight")  # the duplicate has arrived
        gateway.release.set()
        first_status, first_body = first()
        duplicate_status, duplicate_body = duplicate()

    assert (first_status, duplicate_status) == (200, 200)
    assert duplicate_body == first_body
    assert gateway.charge_calls(first_body["payment_id"]) == 1
    assert_audit_clean(services)


# --- many keys, one order -----------------------------------------------------------------------


def test_concurrent_payments_with_different_keys_charge_the_order_once(app, shopper, order, services):
    gateway = install(services, delay=SLOW_CHARGE_S)
    keys = [f"tab-{n}" for n in range(8)]

    answers = pay_concurrently(app, shopper, order["order_id"], keys)

    paid = [body for status, body in answers if status == 200]
    refused = [body["error"]["code"] for status, body in answers if status == 409]
    assert len(paid) == 1, answers
    assert paid[0]["status"] == "paid"
    assert len(refused) == 7, answers
    assert set(refused) <= {"payment_in_progress", "order_already_paid"}, answers
    (payment,) = payments_of(services, order["order_id"])
    assert gateway.charge_calls(payment.id) == 1
    assert gateway.refund_calls(payment.provider_reference) == 0
    assert_audit_clean(services)


def test_a_payment_while_another_is_in_flight_is_told_payment_in_progress(app, shopper, order, services):
    gateway = install(services, gated=True)
    with serve(app) as host:
        first = in_background(pay_over_http, host, shopper.token, order["order_id"], "tab-1")
        assert gateway.charging.wait(GATE_TIMEOUT_S)

        status, body = pay_over_http(host, shopper.token, order["order_id"], "tab-2")

        gateway.release.set()
        assert first()[0] == 200
    assert status == 409
    assert body["error"]["code"] == "payment_in_progress"
    assert "being processed" in body["error"]["message"]
    assert_audit_clean(services)


def test_a_payment_after_the_order_was_paid_is_told_order_already_paid(app, shopper, order, services):
    install(services)
    with serve(app) as host:
        assert pay_over_http(host, shopper.token, order["order_id"], "tab-1")[0] == 200

        status, body = pay_over_http(host, shopper.token, order["order_id"], "tab-2")

    assert status == 409
    assert body["error"]["code"] == "order_already_paid"
    assert count(services, Payment) == 1
    assert_audit_clean(services)


# --- the deadline during the charge --------------------------------------------------------------


def deadline_now(services, order_id: str) -> None:
    """Move the order's payment deadline to this moment: after the payment began, before it ends."""
    with services.db.writing() as session, session.begin():
        session.execute(update(Order).where(Order.id == order_id).values(pay_before=utcnow()))


def test_an_order_whose_deadline_passes_during_the_charge_is_refunded_and_told_so(
    app, shopper, order, services, drain
):
    gateway = install(services, gated=True)
    with serve(app) as host:
        answer = in_background(pay_over_http, host, shopper.token, order["order_id"], "late")
        assert gateway.charging.wait(GATE_TIMEOUT_S)
        deadline_now(services, order["order_id"])
        gateway.release.set()
        status, body = answer()

    assert status == 409
    assert body["error"]["code"] == "order_expired"
    assert "refunded" in body["error"]["message"]
    (payment,) = payments_of(services, order["order_id"])
    assert payment.status == PaymentStatus.REFUNDED
    assert gateway.charge_calls(payment.id) == 1
    assert gateway.refund_calls(payment.provider_reference) == 1
    assert order_row(services, order["order_id"]).status == OrderStatus.PENDING_PAYMENT
    assert_audit_clean(services)


def test_an_order_expired_by_the_sweeper_during_the_charge_is_refunded_and_its_units_return(
    app, shopper, order, services, drain, flash
):
    from shop.lanes.expiry import sweep

    gateway = install(services, gated=True)
    with serve(app) as host:
        answer = in_background(pay_over_http, host, shopper.token, order["order_id"], "late")
        assert gateway.charging.wait(GATE_TIMEOUT_S)
        expire_order_in_db(services, order["order_id"])
        sweep(services.db, services.lanes, services.config.CHECKOUT_LANES)
        drain()
        gateway.release.set()
        status, body = answer()

    assert (status, body["error"]["code"]) == (409, "order_expired")
    assert "refunded" in body["error"]["message"]
    (payment,) = payments_of(services, order["order_id"])
    assert gateway.refund_calls(payment.provider_reference) == 1
    assert order_row(services, order["order_id"]).status == OrderStatus.EXPIRED
    assert stock(services, flash) == (10, 0, 0)
    assert_audit_clean(services)


def test_a_replay_of_a_refunded_payment_tells_the_same_truth(app, shopper, order, services):
    gateway = install(services, gated=True)
    with serve(app) as host:
        answer = in_background(pay_over_http, host, shopper.token, order["order_id"], "late")
        assert gateway.charging.wait(GATE_TIMEOUT_S)
        expire_order_in_db(services, order["order_id"])
        gateway.release.set()
        first = answer()

        replay = pay_over_http(host, shopper.token, order["order_id"], "late")

    assert replay == first
    assert replay[0] == 409
    (payment,) = payments_of(services, order["order_id"])
    assert gateway.refund_calls(payment.provider_reference) == 1
    assert_audit_clean(services)


def test_a_refund_the_gateway_fails_is_told_pending_and_completed_by_the_reconciler(
    app, shopper, order, services
):
    gateway = install(services, gated=True)
    gateway.failing_refunds = 1
    with serve(app) as host:
        answer = in_background(pay_over_http, host, shopper.token, order["order_id"], "late")
        assert gateway.charging.wait(GATE_TIMEOUT_S)
        expire_order_in_db(services, order["order_id"])
        gateway.release.set()
        status, body = answer()
    assert (status, body["error"]["code"]) == (409, "order_expired")
    assert "refund" in body["error"]["message"] and "under way" in body["error"]["message"]

    with services.db.writing() as session:
        settled = payments.reconcile_payments(session, gateway, older_than=timedelta(0))

    assert settled["refunded"] == 1
    (payment,) = payments_of(services, order["order_id"])
    assert payment.status == PaymentStatus.REFUNDED
    assert gateway.refund_calls(payment.provider_reference) == 2
    assert_audit_clean(services)
