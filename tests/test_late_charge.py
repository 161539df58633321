"""An order that expires while its card is being charged is refunded, and the shopper is told so."""

from __future__ import annotations

from sqlalchemy import select, text

from shop.domain.gateway import SimulatedGateway
from shop.storage.models import Order, OrderStatus, Payment, PaymentStatus, Product
from tests.helpers import assert_audit_clean


class DeadlineDuringCharge(SimulatedGateway):
    """The simulated gateway, slow enough that the order's deadline passes during the charge."""

    def __init__(self, services) -> None:
        super().__init__(services.redis)
        self.services = services
        self.refunds: list[tuple[str, int]] = []

    def charge(self, *, amount: int, card_number: str, idempotency_key: str):
        with self.services.db.writing() as session, session.begin():
            session.execute(text("UPDATE orders SET pay_before = :t"), {"t": "2000-01-01"})
        return super().charge(amount=amount, card_number=card_number, idempotency_key=idempotency_key)

    def refund(self, *, reference: str, amount: int) -> None:
        self.refunds.append((reference, amount))


def test_an_order_expiring_during_the_charge_is_refunded_and_the_shopper_told_so(
    services, shopper, make_product, drain
):
    make_product("LATE-1", on_hand=5)
    shopper.add("LATE-1", 2)
    drain()
    accepted = shopper.checkout(key="late-checkout")
    drain()
    order = shopper.result(accepted)
    gateway = DeadlineDuringCharge(services)
    services.gateway = gateway

    response = shopper.pay(order["order_id"], order["total"])

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "order_expired" and "refunded" in error["message"]
    with services.db.reading() as session:
        payment = session.scalars(select(Payment)).one()
        assert payment.status == PaymentStatus.REFUNDED
        assert gateway.refunds == [(payment.provider_reference, order["total"])]
        assert session.get(Order, order["order_id"]).status != OrderStatus.PAID
        product = session.get(Product, "LATE-1")
        assert (product.on_hand, product.sales) == (5, 0)
    assert_audit_clean(services)
