"""The order page: the payment form with its deadline, and what became of the order once paid or not.

``/orders/<id>`` is shared with the API: an API client gets the API's JSON answer
(``shop.web.helpers.order_answer``).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import Response, flash, get_flashed_messages, redirect, request, url_for
from flask_babel import gettext as _

from shop.domain.errors import Invalid, Malformed, NotFound, OrderNotPayable
from shop.domain.gateway import luhn_valid
from shop.domain.orders import find_order, order_view
from shop.domain.payments import pay_order
from shop.lanes import admission
from shop.web.extensions import limiter
from shop.web.helpers import ORDER_ID_PATTERN, order_answer, payment_limit, read_limit, services
from shop.web.pages.shell import api_client, bp, current_cart, form_key, html_errors, render


@bp.get("/orders/<order_id>")
def order(order_id: str) -> Response:
    if api_client():
        return _api_order(order_id)
    return _order_page(order_id)


@limiter.limit(read_limit)
def _api_order(order_id: str) -> Response:
    return order_answer(order_id)


def _find_order_view(order_id: str) -> dict[str, Any]:
    cart_id = current_cart()
    if cart_id is None or not ORDER_ID_PATTERN.match(order_id):
        raise NotFound("No such order for this cart.", code="not_found")
    with services().db.reading() as session:
        return order_view(find_order(session, cart_id, order_id))


@html_errors
@limiter.limit(read_limit)
def _order_page(order_id: str, status: int = 200, card_error: str | None = None) -> Response:
    view = _find_order_view(order_id)
    return render(
        "order.html",
        status=status,
        order=view,
        pay_before=datetime.fromisoformat(view["pay_before"]),
        pay_key=secrets.token_urlsafe(16),
        card_error=card_error,
        notices=get_flashed_messages(),
    )


def _refusal_note(code: str) -> str | None:
    """What the order page can say about a refused payment (paid or expired meanwhile it shows itself)."""
    notes = {
        "payment_in_progress": _("Your payment is still being processed. Refresh in a moment."),
        "payment_failed": _("That payment could not be sent. Please try again."),
    }
    return notes.get(code)


@bp.post("/orders/<order_id>/pay")
@html_errors
@limiter.limit(payment_limit)
def pay(order_id: str) -> Response:
    view = _find_order_view(order_id)
    card = re.sub(r"[\s-]", "", request.form.get("card_number", ""))
    if not luhn_valid(card):
        return _order_page(
            order_id, 422, _("That card number doesn't look right. Check the digits and try again.")
        )
    amount = request.form.get("amount", "")
    if not (amount.isascii() and amount.isdigit()) or len(amount) > 15:
        raise Malformed("amount must be a whole number of Rupiah.", code="invalid_amount")
    svc = services()
    cart_id = current_cart()
    assert cart_id is not None
    try:
        with svc.db.writing() as session:
            answer = pay_order(
                session,
                svc.gateway,
                cart_id=cart_id,
                order_id=view["order_id"],
                amount=int(amount),
                card_number=card,
                idempotency_key="page-" + form_key("key"),
                wait=timedelta(seconds=svc.config.PAYMENT_WAIT_SECONDS),
            )
    except OrderNotPayable as refusal:
        note = _refusal_note(refusal.code)
        if note:
            flash(note)
    except Invalid:
        flash(_refusal_note("payment_failed") or "")
    else:
        if answer.status == "paid":
            admission.request_allocation(svc, view["order_id"])
        if answer.status == "declined":
            flash(_("Your card was declined. Nothing was charged; you can try another card."))
        elif answer.status == "processing":
            flash(_refusal_note("payment_in_progress") or "")
    return redirect(url_for("pages.order", order_id=view["order_id"]), 303)
