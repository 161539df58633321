"""Payment: an order charged at most once per idempotency key and, if approved, marked paid.

Payment is synchronous because the shopper is waiting on a card answer. The gateway
(shop.domain.gateway) is called outside any transaction; every state change is a conditional update
under the order's row lock, which the database arbitrates. A paid order's units stay reserved until
each SKU's lane allocates them (RequestKind.ALLOCATE), queued after the payment's commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shop.domain.errors import GatewayError, Invalid, NotFound, OrderNotPayable
from shop.domain.gateway import Charge, PaymentGateway
from shop.storage.models import (
    Hold,
    HoldStatus,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    utcnow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaymentAnswer:
    payment_id: str
    order_id: str
    status: str
    amount: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "order_id": self.order_id,
            "status": self.status,
            "amount": self.amount,
        }


# How often a repeated payment request looks whether the attempt in flight has been settled.
WAIT_POLL_S = (0.02, 0.25)  # first and longest pause between looks
DEFAULT_PAYMENT_WAIT = timedelta(seconds=20)


def _fingerprint(order_id: str, amount: int, card_number: str) -> str:
    payload = json.dumps([order_id, amount, card_number])
    return hashlib.sha256(payload.encode()).hexdigest()


def _lock_order(session: Session, order_id: str) -> Order | None:
    """Lock the order row (PostgreSQL; SQLite's write transaction already holds the database lock).

    Every payment step for an order takes this lock first, so starting and finishing attempts on
    one order are serialised and each reads the others' committed state.
    """
    return session.scalar(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    )


def _check_payable(order: Order | None, cart_id: str, now: datetime) -> Order:
    if order is None or order.cart_id != cart_id:
        raise NotFound("No such order for this cart.", code="order_not_found")
    if order.status == OrderStatus.PAID:
        raise OrderNotPayable("This order is already paid.", code="order_already_paid")
    if order.status != OrderStatus.PENDING_PAYMENT or order.pay_before <= now:
        raise OrderNotPayable(
            "This order can no longer be paid: its payment deadline has passed.",
            code="order_expired",
            pay_before=order.pay_before.isoformat(),
        )
    return order


def pay_order(
    session: Session,
    gateway: PaymentGateway,
    *,
    cart_id: str,
    order_id: str,
    amount: int,
    card_number: str,
    idempotency_key: str,
    wait: timedelta = DEFAULT_PAYMENT_WAIT,
) -> PaymentAnswer:
    """Charge an order at most once per idempotency key and, if approved, turn its holds into sales.

    A request repeating a key whose attempt is still in flight never charges: it waits up to
    ``wait`` for that attempt's answer and returns it. Only one attempt per order is in flight at
    a time; another key meanwhile is told ``payment_in_progress``.
    """
    started = utcnow()
    fingerprint = _fingerprint(order_id, amount, card_number)
    payment, created = _start_payment(
        session, cart_id, order_id, amount, card_number, idempotency_key, fingerprint, started
    )
    if not created:
        if payment.status == PaymentStatus.PROCESSING:
            log.info("payment %s: a repeated request waits for the attempt in flight", payment.id)
            payment = _wait_until_settled(session, payment.id, wait)
        return _answer(payment)
    charge = gateway.charge(amount=amount, card_number=card_number, idempotency_key=payment.id)
    # The deadline is checked when the charge is back, not when the request came in.
    payment, refund_owed = _settle(session, payment.id, charge, utcnow())
    if refund_owed:
        payment = _refund(session, gateway, payment)
    return _answer(payment)


def _start_payment(
    session: Session,
    cart_id: str,
    order_id: str,
    amount: int,
    card_number: str,
    idempotency_key: str,
    fingerprint: str,
    now: datetime,
) -> tuple[Payment, bool]:
    """Record the payment attempt before charging, or return the attempt this key already made.

    Return the payment and whether this call created it (and so is the one to charge).
    """
    try:
        with session.begin():
            order = _lock_order(session, order_id)
            existing = session.scalar(
                select(Payment)
                .where(Payment.cart_id == cart_id, Payment.idempotency_key == idempotency_key)
                .execution_options(populate_existing=True)
            )
            if existing is not None:
                if existing.fingerprint != fingerprint:
                    raise Invalid(
                        "This Idempotency-Key was used for a different payment request.",
                        code="idempotency_key_reused",
                    )
                return existing, False
            order = _check_payable(order, cart_id, now)
            if amount != order.total:
                raise Invalid(
                    "The amount does not match the order total.",
                    code="amount_mismatch",
                    expected=order.total,
                    given=amount,
                )
            in_flight = session.scalar(
                select(Payment.id).where(
                    Payment.order_id == order_id, Payment.status == PaymentStatus.PROCESSING
                )
            )
            if in_flight is not None:
                raise _in_progress()
            payment = Payment(
                id="pay_" + secrets.token_hex(12),
                order_id=order_id,
                cart_id=cart_id,
                amount=amount,
                status=PaymentStatus.PROCESSING,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                card_last4=card_number[-4:],
                created_at=now,
                updated_at=now,
            )
            session.add(payment)
        return payment, True
    except IntegrityError:
        # Another attempt got in first (same key, or one in flight for the order): answer by it.
        return _start_payment(
            session, cart_id, order_id, amount, card_number, idempotency_key, fingerprint, now
        )


def _in_progress() -> OrderNotPayable:
    return OrderNotPayable(
        "Another payment for this order is being processed; wait for its answer before paying again.",
        code="payment_in_progress",
    )


def _wait_until_settled(session: Session, payment_id: str, wait: timedelta) -> Payment:
    """Poll the attempt in flight until it is settled or ``wait`` has passed; return it as last read."""
    deadline = time.monotonic() + wait.total_seconds()
    pause = WAIT_POLL_S[0]
    while True:
        with session.begin():
            payment = session.scalar(
                select(Payment).where(Payment.id == payment_id).execution_options(populate_existing=True)
            )
        assert payment is not None
        if payment.status != PaymentStatus.PROCESSING or time.monotonic() >= deadline:
            return payment
        time.sleep(pause)
        pause = min(pause * 2, WAIT_POLL_S[1])


def _settle(session: Session, payment_id: str, charge: Charge, now: datetime) -> tuple[Payment, bool]:
    """Record the gateway's answer for an attempt, once; return it and whether a refund is owed.

    The payment is re-read under the order's lock: another process (the reconciler) may have
    settled it meanwhile, and then its outcome stands.
    """
    with session.begin():
        payment = session.scalar(
            select(Payment).where(Payment.id == payment_id).execution_options(populate_existing=True)
        )
        assert payment is not None
        _lock_order(session, payment.order_id)
        payment = session.scalar(
            select(Payment)
            .where(Payment.id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert payment is not None
        refund_owed = False
        if payment.status == PaymentStatus.PROCESSING:
            refund_owed = _finish_payment(session, payment, charge, now)
        elif payment.status == PaymentStatus.FAILED and charge.approved:
            # The reconciler found no charge and gave up on it; the charge came through after all.
            payment.provider_reference = charge.reference
            payment.status = PaymentStatus.REFUND_PENDING
            payment.updated_at = now
            refund_owed = True
    return payment, refund_owed


def _finish_payment(session: Session, payment: Payment, charge: Charge, now: datetime) -> bool:
    """Mark the order and its holds paid, or the payment declined; True if a refund is owed."""
    payment.provider_reference = charge.reference
    payment.updated_at = now
    if not charge.approved:
        payment.status = PaymentStatus.DECLINED
        return False
    result = session.execute(
        update(Order)
        .where(
            Order.id == payment.order_id,
            Order.status == OrderStatus.PENDING_PAYMENT,
            Order.pay_before > now,
        )
        .values(status=OrderStatus.PAID, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        payment.status = PaymentStatus.REFUND_PENDING
        return True
    # The units stay reserved until each SKU's lane allocates them (RequestKind.ALLOCATE): the
    # lane's consumer is the one writer of its stock. shop.lanes.admission.request_allocation queues it
    # after this transaction commits.
    session.execute(
        update(Hold)
        .where(Hold.order_id == payment.order_id, Hold.status == HoldStatus.ORDERED)
        .values(status=HoldStatus.PAID, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    payment.status = PaymentStatus.PAID
    return False


def _refund(session: Session, gateway: PaymentGateway, payment: Payment) -> Payment:
    """Refund a charge the order could not take; if the gateway fails, the reconciler retries it."""
    assert payment.provider_reference is not None
    try:
        gateway.refund(reference=payment.provider_reference, amount=payment.amount)
    except GatewayError as exc:
        log.warning("payment %s: refund failed, left for the reconciler: %s", payment.id, exc)
        return payment
    with session.begin():
        session.execute(
            update(Payment)
            .where(Payment.id == payment.id, Payment.status == PaymentStatus.REFUND_PENDING)
            .values(status=PaymentStatus.REFUNDED, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        refreshed = session.scalar(
            select(Payment).where(Payment.id == payment.id).execution_options(populate_existing=True)
        )
    assert refreshed is not None
    return refreshed


# A charge the order could not take: what the shopper is told of its refund, and the refund's state.
_REFUNDS = {
    PaymentStatus.REFUNDED: ("the charge was refunded", "refunded"),
    PaymentStatus.REFUND_PENDING: ("the refund of the charge is under way", "pending"),
}


def _answer(payment: Payment) -> PaymentAnswer:
    """Say what became of an attempt, the same way to the first request and to every repeat."""
    if payment.status in (PaymentStatus.PAID, PaymentStatus.DECLINED):
        return PaymentAnswer(payment.id, payment.order_id, payment.status, payment.amount)
    refund = _REFUNDS.get(payment.status)
    if refund is not None:
        said, state = refund
        raise OrderNotPayable(
            "The order could no longer be paid when the card was charged (its payment deadline had "
            f"passed); {said}.",
            code="order_expired",
            payment_id=payment.id,
            refund=state,
        )
    if payment.status == PaymentStatus.FAILED:
        raise OrderNotPayable(
            "This payment attempt was never completed and nothing was charged; pay again with a new "
            "Idempotency-Key.",
            code="payment_failed",
            payment_id=payment.id,
        )
    raise OrderNotPayable(
        "This payment is still being processed; ask again with the same Idempotency-Key shortly.",
        code="payment_in_progress",
        payment_id=payment.id,
        retry=True,
    )


def reconcile_payments(
    session: Session,
    gateway: PaymentGateway,
    older_than: timedelta,
    now: datetime | None = None,
    limit: int = 100,
    on_paid: Callable[[str], object] | None = None,
) -> dict[str, int]:
    """Settle attempts left in flight (their process died) and refunds left owed; return counts.

    A payment still ``processing`` after ``older_than`` is looked up at the gateway by its id (the
    charge's idempotency key): a charge found is settled as the web process would have (the order
    paid, or refunded if it can no longer be paid), none found marks the attempt failed. A refund
    that failed is asked for again (refunds are idempotent per reference). ``on_paid`` is called
    with the order id of each attempt settled as paid, after its commit: it queues the allocation
    of the order's units in their SKUs' lanes (shop.lanes.admission.request_allocation).
    """
    now = now or utcnow()
    cutoff = now - older_than
    with session.begin():
        stuck = list(
            session.scalars(
                select(Payment.id)
                .where(
                    Payment.status.in_([PaymentStatus.PROCESSING, PaymentStatus.REFUND_PENDING]),
                    Payment.updated_at <= cutoff,
                )
                .order_by(Payment.updated_at)
                .limit(limit)
            )
        )
    counts = {"paid": 0, "declined": 0, "refunded": 0, "refund_pending": 0, "failed": 0}
    for payment_id in stuck:
        status, order_id = _reconcile_one(session, gateway, payment_id, now)
        if status == PaymentStatus.PAID and on_paid is not None and order_id is not None:
            on_paid(order_id)
        if status in counts:
            counts[status] += 1
    if stuck:
        log.warning("payments reconciled: %s", json.dumps(counts))
    return counts


def _reconcile_one(
    session: Session, gateway: PaymentGateway, payment_id: str, now: datetime
) -> tuple[str | None, str | None]:
    with session.begin():
        payment = session.get(Payment, payment_id, populate_existing=True)
    if payment is None:
        return None, None
    if payment.status == PaymentStatus.REFUND_PENDING:
        return _refund(session, gateway, payment).status, payment.order_id
    charge = gateway.lookup(idempotency_key=payment.id)
    if charge is None:
        with session.begin():
            _lock_order(session, payment.order_id)
            result = session.execute(
                update(Payment)
                .where(Payment.id == payment.id, Payment.status == PaymentStatus.PROCESSING)
                .values(status=PaymentStatus.FAILED, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        return (PaymentStatus.FAILED if result.rowcount == 1 else None), payment.order_id
    payment, refund_owed = _settle(session, payment.id, charge, now)
    if refund_owed:
        payment = _refund(session, gateway, payment)
    return payment.status, payment.order_id
