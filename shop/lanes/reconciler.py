"""The payment reconciler's entry point for the scheduler and the CLI: one pass over stuck payments."""

from __future__ import annotations

from datetime import timedelta

from shop.domain.payments import reconcile_payments
from shop.lanes.admission import request_allocation
from shop.services import Services


def reconcile(services: Services, older_than_s: int | None = None) -> dict[str, int]:
    """Settle payments still processing after PAYMENT_RECONCILE_AFTER_SECONDS, and refunds still owed.

    An attempt settled as paid has its units allocated through their SKUs' lanes (after the commit),
    as a payment answered to the shopper does.
    """
    after = services.config.PAYMENT_RECONCILE_AFTER_SECONDS if older_than_s is None else older_than_s
    with services.db.writing() as session:
        return reconcile_payments(
            session,
            services.gateway,
            timedelta(seconds=after),
            on_paid=lambda order_id: request_allocation(services, order_id),
        )
