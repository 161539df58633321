"""The payment reconciler's entry point for the scheduler and the CLI: one pass over stuck payments."""

from __future__ import annotations

from datetime import timedelta

from shop.orders import reconcile_payments
from shop.services import Services


def reconcile(services: Services) -> dict[str, int]:
    """Settle payments still processing after PAYMENT_RECONCILE_AFTER_SECONDS, and refunds still owed."""
    older_than = timedelta(seconds=services.config.PAYMENT_RECONCILE_AFTER_SECONDS)
    with services.db.writing() as session:
        return reconcile_payments(session, services.gateway, older_than)
