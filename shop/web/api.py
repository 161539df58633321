"""The JSON API: catalog, cart (spelled "chart" as in the original brief, also served as "cart"),
job polling, checkout and payment. Views parse input, call one function, and shape the answer."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, Response, request

from shop.domain.catalog import find_product, list_products, product_view
from shop.domain.errors import Malformed
from shop.domain.payments import pay_order
from shop.lanes import admission
from shop.web.extensions import limiter
from shop.web.helpers import (
    answer,
    body_as,
    cart_answer,
    cart_from_request,
    cart_limit,
    optional_json_body,
    order_answer,
    payment_limit,
    read_limit,
    services,
    shopper_from_request,
    valid_qty,
    valid_sku,
    with_cart,
)
from shop.web.schemas import requests as rq
from shop.web.schemas import responses as rs

bp = Blueprint("api", __name__)


def _accepted(adm: admission.Admission | admission.Repeated, token: str, cart_id: str) -> Response:
    """202 with the place in line; 200 with the job once decided, for a repeat of a request past
    the line or, with ``Prefer: wait=N`` (RFC 7240), when the decision comes within N seconds."""
    if isinstance(adm, admission.Repeated):
        response = answer(rs.Job, adm.view)
        response.headers["Location"] = f"/jobs/{adm.job_id}"
        return with_cart(response, token)
    wait_s = _preferred_wait()
    answered = admission.job_answer(services(), cart_id, adm.job_id, adm.lane, wait_s) if wait_s else None
    if answered is not None:
        response = answer(rs.Job, answered)
        response.headers["Preference-Applied"] = f"wait={wait_s}"
    else:
        response = answer(rs.Admission, admission.admission_view(adm, token), 202)
    response.headers["Location"] = f"/jobs/{adm.job_id}"
    return with_cart(response, token)


_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*([0-9]{1,6})(?:$|[,;\s])", re.IGNORECASE)


def _preferred_wait() -> int:
    """Seconds the client prefers to wait for the answer (``Prefer: wait=N``), at most the cap."""
    found = _PREFER_WAIT.search(request.headers.get("Prefer", ""))
    return min(int(found.group(1)), services().config.LONG_POLL_MAX_SECONDS) if found else 0


def _query_wait() -> int:
    """``?wait=N`` on a job: whole seconds, 0 up to LONG_POLL_MAX_SECONDS."""
    raw = request.args.get("wait")
    if raw is None:
        return 0
    cap = services().config.LONG_POLL_MAX_SECONDS
    if not re.fullmatch(r"[0-9]{1,6}", raw) or int(raw) > cap:
        raise Malformed(f"wait must be a whole number of seconds from 0 to {cap}.", code="invalid_wait")
    return int(raw)


def _idempotency_key(required: bool) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        if required:
            raise Malformed("The Idempotency-Key header is required.", code="missing_idempotency_key")
        return None
    return rq.IDEMPOTENCY_KEY.check(key)


@bp.get("/catalogs")
@limiter.limit(read_limit)
def catalogs() -> Response:
    query = rq.catalog_query(request.args)
    with services().db.reading() as session:
        return answer(rs.CatalogPage, list_products(session, query))


@bp.get("/catalogs/<sku>")
@limiter.limit(read_limit)
def catalog_item(sku: str) -> Response:
    with services().db.reading() as session:
        return answer(rs.Product, product_view(find_product(session, sku)))


@bp.post("/chart")
@bp.post("/cart")
@limiter.limit(cart_limit)
def add_to_cart() -> Response:
    body = body_as(rq.CartRequest)
    key = _idempotency_key(required=False)
    shopper = shopper_from_request()
    token, cart_id = cart_from_request(create=True)
    adm = admission.request_hold(
        services(),
        cart_id,
        body.sku,
        body.qty,
        body.allow_partial,
        shopper,
        body.waitlist,
        body.uom or "",
        idempotency_key=key,
    )
    return _accepted(adm, token, cart_id)


@bp.put("/chart/<sku>/<qty>")
@bp.put("/cart/<sku>/<qty>")
@limiter.limit(cart_limit)
def set_cart_quantity(sku: str, qty: str) -> Response:
    sku = valid_sku(sku)
    quantity = valid_qty(qty, minimum=0, from_path=True)
    raw = request.args.get("uom", _put_body_uom())
    uom = "" if raw is _NO_UOM else rq.UOM.check(raw)
    key = _idempotency_key(required=False)
    shopper = shopper_from_request()
    token, cart_id = cart_from_request(create=True)
    adm = admission.request_quantity(services(), cart_id, sku, quantity, shopper, uom, idempotency_key=key)
    return _accepted(adm, token, cart_id)


_NO_UOM = object()


def _put_body_uom() -> object:
    """The PUT's unit may also come in a JSON body ({"uom": "box"}); no body means none."""
    body = optional_json_body()
    return body["uom"] if "uom" in body else _NO_UOM


@bp.get("/chart")
@bp.get("/cart")
@limiter.limit(read_limit)
def show_cart() -> Response:
    return cart_answer()


@bp.get("/jobs/<job_id>")
@limiter.limit(read_limit)
def job(job_id: str) -> Response:
    token, cart_id = cart_from_request(create=False)
    job_id = rq.JOB_ID.check(job_id)
    wait_s = _query_wait()
    return with_cart(answer(rs.Job, admission.job_status(services(), cart_id, job_id, wait_s)), token)


@bp.get("/jobs/<job_id>/receipt")
@limiter.limit(read_limit)
def job_receipt(job_id: str) -> Response:
    token, cart_id = cart_from_request(create=False)
    job_id = rq.JOB_ID.check(job_id)
    return with_cart(answer(rs.Receipt, admission.job_receipt(services(), cart_id, job_id)), token)


@bp.post("/checkout")
@limiter.limit(cart_limit)
def checkout() -> Response:
    token, cart_id = cart_from_request(create=False)
    key = _idempotency_key(required=False)
    notes = body_as(rq.CheckoutRequest, optional=True).notes
    return _accepted(admission.request_checkout(services(), cart_id, key, notes or None), token, cart_id)


@bp.post("/payment")
@limiter.limit(payment_limit)
def payment() -> Response:
    token, cart_id = cart_from_request(create=False)
    key = _idempotency_key(required=True)
    body = body_as(rq.PaymentRequest)
    svc = services()
    with svc.db.writing() as session:
        paid = pay_order(
            session,
            svc.gateway,
            cart_id=cart_id,
            order_id=body.order_id,
            amount=body.amount,
            card_number=body.card_number,
            idempotency_key=key,
            wait=timedelta(seconds=svc.config.PAYMENT_WAIT_SECONDS),
        )
    if paid.status == "paid":
        # After the commit: each SKU's lane moves the paid units from reserved to allocated.
        admission.request_allocation(svc, body.order_id)
    return with_cart(answer(rs.Payment, paid.to_dict()), token)


@bp.get("/orders/<order_id>")
@limiter.limit(read_limit)
def order(order_id: str) -> Response:
    return order_answer(order_id)
