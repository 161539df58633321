"""The JSON API: catalog, cart (spelled "chart" as in the original brief, also served as "cart"),
job polling, checkout and payment. Views parse input, call one function, and shape the answer."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, Response, jsonify, request

from shop.domain.catalog import CatalogQuery, find_product, list_products, product_view
from shop.domain.errors import Invalid, Malformed, NotFound
from shop.domain.gateway import luhn_valid
from shop.domain.orders import MAX_NOTES
from shop.domain.payments import pay_order
from shop.domain.products import UOM_PATTERN
from shop.lanes import admission
from shop.web.extensions import limiter
from shop.web.helpers import (
    JOB_ID_PATTERN,
    ORDER_ID_PATTERN,
    cart_answer,
    cart_from_request,
    cart_limit,
    json_body,
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

bp = Blueprint("api", __name__)

IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,100}$")


def _accepted(adm: admission.Admission | admission.Repeated, token: str, cart_id: str) -> Response:
    """202 with the place in line; 200 with the job once decided, for a repeat of a request past
    the line or, with ``Prefer: wait=N`` (RFC 7240), when the decision comes within N seconds."""
    if isinstance(adm, admission.Repeated):
        response = jsonify(adm.view)
        response.headers["Location"] = f"/jobs/{adm.job_id}"
        return with_cart(response, token)
    wait_s = _preferred_wait()
    answered = admission.job_answer(services(), cart_id, adm.job_id, adm.lane, wait_s) if wait_s else None
    if answered is not None:
        response = jsonify(answered)
        response.headers["Preference-Applied"] = f"wait={wait_s}"
    else:
        response = jsonify(admission.admission_view(adm, token))
        response.status_code = 202
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
    if not IDEMPOTENCY_KEY_PATTERN.match(key):
        raise Malformed(
            "Idempotency-Key must be 1 to 100 printable characters.", code="invalid_idempotency_key"
        )
    return key


@bp.get("/catalogs")
@limiter.limit(read_limit)
def catalogs() -> Response:
    query = CatalogQuery.from_args(request.args)
    with services().db.reading() as session:
        return jsonify(list_products(session, query))


@bp.get("/catalogs/<sku>")
@limiter.limit(read_limit)
def catalog_item(sku: str) -> Response:
    with services().db.reading() as session:
        return jsonify(product_view(find_product(session, sku)))


@bp.post("/chart")
@bp.post("/cart")
@limiter.limit(cart_limit)
def add_to_cart() -> Response:
    body = json_body()
    sku = valid_sku(body.get("sku"))
    qty = valid_qty(body.get("qty"), minimum=1)
    allow_partial = body.get("allow_partial", False)
    if not isinstance(allow_partial, bool):
        raise Malformed("allow_partial must be true or false.", code="invalid_allow_partial")
    waitlist = body.get("waitlist", False)
    if not isinstance(waitlist, bool):
        raise Malformed("waitlist must be true or false.", code="invalid_waitlist")
    uom = _uom(body["uom"]) if "uom" in body else ""
    key = _idempotency_key(required=False)
    shopper = shopper_from_request()
    token, cart_id = cart_from_request(create=True)
    adm = admission.request_hold(
        services(), cart_id, sku, qty, allow_partial, shopper, waitlist, uom, idempotency_key=key
    )
    return _accepted(adm, token, cart_id)


def _uom(raw: object) -> str:
    """Accept a unit of measure given by the client (absent: the product's base unit)."""
    if not isinstance(raw, str) or not UOM_PATTERN.match(raw):
        raise Invalid(
            "uom must be one of the product's units (see its uoms), e.g. pcs or box.",
            code="unknown_uom",
            uom=raw if isinstance(raw, str) else None,
        )
    return raw


@bp.put("/chart/<sku>/<qty>")
@bp.put("/cart/<sku>/<qty>")
@limiter.limit(cart_limit)
def set_cart_quantity(sku: str, qty: str) -> Response:
    sku = valid_sku(sku)
    quantity = valid_qty(qty, minimum=0, from_path=True)
    raw = request.args.get("uom", _put_body_uom())
    uom = "" if raw is _NO_UOM else _uom(raw)
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
    if not JOB_ID_PATTERN.match(job_id):
        raise NotFound(admission.UNKNOWN_JOB_MESSAGE, code="unknown_job", retry=True)
    wait_s = _query_wait()
    return with_cart(jsonify(admission.job_status(services(), cart_id, job_id, wait_s)), token)


@bp.get("/jobs/<job_id>/receipt")
@limiter.limit(read_limit)
def job_receipt(job_id: str) -> Response:
    token, cart_id = cart_from_request(create=False)
    if not JOB_ID_PATTERN.match(job_id):
        raise NotFound(admission.UNKNOWN_JOB_MESSAGE, code="unknown_job", retry=True)
    return with_cart(jsonify(admission.job_receipt(services(), cart_id, job_id)), token)


@bp.post("/checkout")
@limiter.limit(cart_limit)
def checkout() -> Response:
    token, cart_id = cart_from_request(create=False)
    key = _idempotency_key(required=False)
    notes = optional_json_body().get("notes")
    if notes is not None and (not isinstance(notes, str) or len(notes) > MAX_NOTES or "\x00" in notes):
        raise Invalid(f"notes must be a text of at most {MAX_NOTES} characters.", code="invalid_notes")
    return _accepted(admission.request_checkout(services(), cart_id, key, notes or None), token, cart_id)


@bp.post("/payment")
@limiter.limit(payment_limit)
def payment() -> Response:
    token, cart_id = cart_from_request(create=False)
    key = _idempotency_key(required=True)
    body = json_body()
    order_id = body.get("order_id")
    amount = body.get("amount")
    card = body.get("card_number")
    if not isinstance(order_id, str) or not order_id:
        raise Malformed("order_id is required.", code="invalid_order_id")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise Malformed("amount must be a whole number of Rupiah.", code="invalid_amount")
    if not isinstance(card, str):
        raise Malformed("card_number is required.", code="invalid_card")
    card = re.sub(r"[\s-]", "", card)
    if not ORDER_ID_PATTERN.match(order_id):
        raise NotFound("No such order for this cart.", code="order_not_found")
    if amount < 0:
        raise Invalid("amount cannot be negative.", code="amount_mismatch")
    if not luhn_valid(card):
        raise Invalid("card_number is not a valid card number.", code="invalid_card")
    svc = services()
    with svc.db.writing() as session:
        answer = pay_order(
            session,
            svc.gateway,
            cart_id=cart_id,
            order_id=order_id,
            amount=amount,
            card_number=card,
            idempotency_key=key,
            wait=timedelta(seconds=svc.config.PAYMENT_WAIT_SECONDS),
        )
    if answer.status == "paid":
        # After the commit: each SKU's lane moves the paid units from reserved to allocated.
        admission.request_allocation(svc, order_id)
    return with_cart(jsonify(answer.to_dict()), token)


@bp.get("/orders/<order_id>")
@limiter.limit(read_limit)
def order(order_id: str) -> Response:
    return order_answer(order_id)
