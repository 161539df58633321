"""A payment whose web process died between the gateway's charge and the commit is settled later.

The web process is a real gunicorn worker, killed with SIGKILL while the simulated gateway holds a
charge it has made; the scheduler's payment reconciler then asks the gateway by the payment's id and
settles the payment: the order paid, or the charge refunded if the order can no longer be paid.
"""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from shop.domain import payments
from shop.domain.gateway import Charge, SimulatedGateway
from shop.lanes.expiry import sweep
from shop.lanes.reconciler import reconcile
from shop.storage.models import Hold, HoldStatus, OrderStatus, Payment, PaymentStatus
from tests.gunicorn_server import gunicorn
from tests.helpers import (
    GOOD_CARD,
    PRICE,
    assert_audit_clean,
    expire_order_in_db,
    order_row,
    product_row,
    stock,
    wait_until,
    worker_env,
)
from tests.http_server import call

SETTLE_TIMEOUT_S = 30.0


def wait_for(condition, what: str, timeout: float = SETTLE_TIMEOUT_S):
    value = wait_until(condition, timeout)
    assert value, f"{what} did not happen within {timeout} s"
    return value


def payment_of(services, order_id: str) -> Payment | None:
    with services.db.reading() as session:
        return session.scalar(select(Payment).where(Payment.order_id == order_id))


def kill_web_process_after_the_charge(config, services, shopper, order_id: str, tmp_path: Path) -> Payment:
    """Pay through gunicorn, SIGKILL its worker while the gateway holds the charge; return the payment."""
    pause = tmp_path / "gateway-pause"
    pause.touch()
    env = worker_env(config, SHOP_TEST_GATEWAY_PAUSE_FILE=str(pause))
    gateway = SimulatedGateway(services.redis)
    with gunicorn(env, workers=1, threads=2) as server:
        headers = {"X-Cart-Token": shopper.token, "Idempotency-Key": "dies"}
        body = {"order_id": order_id, "amount": 2 * PRICE, "card_number": GOOD_CARD}
        answers: list[object] = []

        def pay() -> None:
            try:
                answers.append(call(server.host, "POST", "/payment", body, headers))
            except OSError as exc:  # the connection dies with the worker
                answers.append(exc)

        client = threading.Thread(target=pay, daemon=True)
        client.start()
        payment = wait_for(lambda: payment_of(services, order_id), "the payment attempt")
        wait_for(lambda: gateway.lookup(idempotency_key=payment.id), "the gateway's charge")
        (worker,) = server.workers()
        os.kill(worker, signal.SIGKILL)
        client.join(10)
        pause.unlink()
    assert len(answers) == 1 and isinstance(answers[0], OSError), answers
    payment = payment_of(services, order_id)
    assert payment is not None and payment.status == PaymentStatus.PROCESSING
    return payment


def start_reconciling_scheduler(spawn) -> None:
    spawn("workers.schedule", PAYMENT_RECONCILE_INTERVAL_SECONDS=1, PAYMENT_RECONCILE_AFTER_SECONDS=1)


def settled(services, order_id: str) -> Payment | None:
    payment = payment_of(services, order_id)
    in_between = (PaymentStatus.PROCESSING, PaymentStatus.REFUND_PENDING)
    return payment if payment is not None and payment.status not in in_between else None


def test_a_charge_whose_web_process_was_killed_is_settled_paid_by_the_reconciler(
    config, services, shopper, order, spawn, drain, tmp_path, flash
):
    killed = kill_web_process_after_the_charge(config, services, shopper, order["order_id"], tmp_path)

    start_reconciling_scheduler(spawn)
    payment = wait_for(lambda: settled(services, order["order_id"]), "reconciliation")

    assert payment.status == PaymentStatus.PAID
    assert payment.provider_reference
    assert order_row(services, order["order_id"]).status == OrderStatus.PAID
    # The reconciler queues the allocation in the SKU's lane after its commit, as a paid answer does.
    wait_for(lambda: drain() >= 0 and product_row(services, flash).allocated == 2, "allocation")
    assert stock(services, flash) == (10, 0, 2)
    gateway = SimulatedGateway(services.redis)
    assert gateway.charge_calls(killed.id) == 1
    assert gateway.refund_calls(payment.provider_reference) == 0
    replay = shopper.pay(order["order_id"], 2 * PRICE, key="dies")
    assert (replay.status_code, replay.get_json()["payment_id"]) == (200, killed.id)
    assert_audit_clean(services)


def test_a_charge_whose_web_process_was_killed_is_refunded_when_the_order_expired_meanwhile(
    config, services, shopper, order, spawn, drain, tmp_path, flash
):
    kill_web_process_after_the_charge(config, services, shopper, order["order_id"], tmp_path)
    expire_order_in_db(services, order["order_id"])
    sweep(services.db, services.lanes, services.config.CHECKOUT_LANES)
    drain()
    assert order_row(services, order["order_id"]).status == OrderStatus.EXPIRED

    start_reconciling_scheduler(spawn)
    payment = wait_for(lambda: settled(services, order["order_id"]), "reconciliation")

    assert payment.status == PaymentStatus.REFUNDED
    assert SimulatedGateway(services.redis).refund_calls(payment.provider_reference) == 1
    assert stock(services, flash) == (10, 0, 0)
    with services.db.reading() as session:
        statuses = set(session.scalars(select(Hold.status).where(Hold.order_id == order["order_id"])))
    assert statuses == {HoldStatus.EXPIRED}
    replay = shopper.pay(order["order_id"], 2 * PRICE, key="dies")
    assert (replay.status_code, replay.get_json()["error"]["code"]) == (409, "order_expired")
    assert_audit_clean(services)


class Died(BaseException):
    """The process ending mid-request (not an error the app could answer)."""


class DyingGateway(SimulatedGateway):
    def charge(self, *, amount: int, card_number: str, idempotency_key: str) -> Charge:
        raise Died


def test_a_payment_the_gateway_never_charged_is_failed_by_the_reconciler_and_the_order_can_be_paid(
    services, shopper, order
):
    with services.db.writing() as session, pytest.raises(Died):
        payments.pay_order(
            session,
            DyingGateway(services.redis),
            cart_id=shopper_cart(services, order["order_id"]),
            order_id=order["order_id"],
            amount=2 * PRICE,
            card_number=GOOD_CARD,
            idempotency_key="dies-first",
        )
    in_flight = shopper.pay(order["order_id"], 2 * PRICE, key="second")
    assert (in_flight.status_code, in_flight.get_json()["error"]["code"]) == (409, "payment_in_progress")

    with services.db.writing() as session:
        counts = payments.reconcile_payments(session, services.gateway, older_than=timedelta(0))

    assert counts["failed"] == 1
    assert payment_of(services, order["order_id"]).status == PaymentStatus.FAILED
    replay = shopper.pay(order["order_id"], 2 * PRICE, key="dies-first")
    assert (replay.status_code, replay.get_json()["error"]["code"]) == (409, "payment_failed")
    again = shopper.pay(order["order_id"], 2 * PRICE, key="third")
    assert (again.status_code, again.get_json()["status"]) == (200, "paid")
    assert_audit_clean(services)


def shopper_cart(services, order_id: str) -> str:
    return order_row(services, order_id).cart_id


class ChargesThenDies(SimulatedGateway):
    def charge(self, *, amount: int, card_number: str, idempotency_key: str) -> Charge:
        super().charge(amount=amount, card_number=card_number, idempotency_key=idempotency_key)
        raise Died


def test_a_payment_the_reconciler_settles_as_paid_is_allocated_through_the_skus_lane(
    services, shopper, order, drain, flash
):
    with services.db.writing() as session, pytest.raises(Died):
        payments.pay_order(
            session,
            ChargesThenDies(services.redis),
            cart_id=shopper_cart(services, order["order_id"]),
            order_id=order["order_id"],
            amount=2 * PRICE,
            card_number=GOOD_CARD,
            idempotency_key="charged-then-died",
        )

    counts = reconcile(services, older_than_s=0)

    assert counts["paid"] == 1
    assert drain() == 1  # the allocation the reconciler queued after its commit
    assert product_row(services, flash).allocated == 2
    assert stock(services, flash) == (10, 0, 2)
    assert_audit_clean(services)
