"""The shopper pages: storefront, product, waiting room, cart, order and payment, server-rendered.

Views are thin: they read the cart from its signed HttpOnly cookie, parse the form, call the same
catalog, admission and order functions as the JSON API, and render a template. Every form carries a
CSRF token (``shop.web.extensions.csrf``). ``/cart`` and ``/orders/<id>`` are shared with the API: this
blueprint is registered first and hands API clients (an X-Cart-Token header, or an Accept header
that does not ask for HTML) to the API's views.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from shop.domain.carts import cart_view
from shop.domain.catalog import (
    MAX_OFFSET,
    CatalogQuery,
    categories,
    find_product,
    list_products,
    product_view,
)
from shop.domain.errors import Invalid, Malformed, NotFound, OrderNotPayable, ShopError
from shop.domain.gateway import luhn_valid
from shop.domain.orders import find_order, order_view
from shop.domain.payments import pay_order
from shop.domain.products import UOM_PATTERN
from shop.lanes import admission
from shop.storage.models import utcnow
from shop.web import api, i18n, waiting
from shop.web.extensions import limiter
from shop.web.helpers import (
    CART_HEADER,
    cart_tokens,
    error_response,
    services,
    shopper_from_request,
    valid_qty,
    valid_sku,
)
from shop.web.security import cookie_secure
from shop.web.statuses import http_status

log = logging.getLogger(__name__)

bp = Blueprint("pages", __name__)

P = ParamSpec("P")
R = TypeVar("R")

CART_COOKIE = "cart"
CART_COOKIE_MAX_AGE = 30 * 24 * 3600
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
PAGE_SIZE = 12
# The storefront's sort menu, as the catalog query's (sortBy, sortDir).
SORTS: dict[str, tuple[str, str]] = {
    "relevance": ("relevance", "desc"),  # offered with a search only, and its default
    "sales": ("sales", "desc"),
    "price": ("price", "asc"),
    "price-desc": ("price", "desc"),
    "newest": ("newest", "desc"),
}
FORM_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Pages load only this site's own CSS and JS: no inline script, no inline style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


# --- the shopper's cart and language -----------------------------------------------------------


def current_cart(create: bool = False) -> str | None:
    """Return the cart id from the signed cookie; a forged or absent cookie means no cart (or a new one)."""
    if g.get("cart_id") is None and "cart_checked" not in g:
        g.cart_checked = True
        token = request.cookies.get(CART_COOKIE, "")
        if token:
            try:
                g.cart_id = cart_tokens().verify(token)
            except ShopError:
                create = True  # not a token we issued: start a fresh anonymous cart in its place
    if g.get("cart_id") is None and create:
        token, g.cart_id = cart_tokens().issue()
        g.new_cart_token = token
    return g.get("cart_id")


def language() -> str:
    """Return the shopper's language for this request (cookie, else Accept-Language)."""
    if "lang" not in g:
        g.lang = i18n.pick_language(request.cookies.get(i18n.LANG_COOKIE), request.accept_languages)
    return g.lang


def api_client() -> bool:
    """Tell an API client (cart header, or no wish for HTML) from a browser at a path both serve."""
    if CART_HEADER in request.headers:
        return True
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) != "text/html"


@bp.after_request
def finish_page(response: Response) -> Response:
    """Set a newly issued cart cookie, and keep per-shopper pages out of caches."""
    token = g.get("new_cart_token")
    if token:
        response.set_cookie(
            CART_COOKIE,
            token,
            max_age=CART_COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=cookie_secure(),
        )
    if response.mimetype == "text/html":
        # The app-wide page policy (shop.web.security), plus product photos over https.
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- rendering and errors ----------------------------------------------------------------------


def render(template: str, status: int = 200, **context: Any) -> Response:
    """Render a page with the shopper's language, money and time helpers and the cart badge."""
    lang = language()
    t = i18n.translator(lang)
    return Response(
        render_template(
            template,
            lang=lang,
            languages=i18n.LANGUAGES,
            t=t,
            rupiah=i18n.rupiah,
            clock=i18n.clock,
            wib_time=i18n.wib_time,
            wib_moment=i18n.wib_moment,
            duration=lambda seconds: i18n.duration(t, seconds),
            category_name=lambda category: i18n.category_name(t, category),
            catalog_lang=i18n.CATALOG_LANGUAGE,
            cart_count=_cart_count,
            here=request.full_path.rstrip("?") if request.method == "GET" else url_for("pages.storefront"),
            **context,
        ),
        status=status,
        mimetype="text/html",
    )


def _cart_count() -> int:
    """Count the cart's held lines for the header badge (called by the layout, only when shown)."""
    cart_id = current_cart()
    if cart_id is None:
        return 0
    try:
        with services().db.reading() as session:
            return sum(1 for item in cart_view(session, cart_id)["items"] if item["status"] == "held")
    except OperationalError:
        return 0  # the badge never takes a page down; the page itself says if the shop is unavailable


ERROR_KEYS = {
    400: "error.bad_request",
    404: "error.not_found",
    405: "error.bad_request",
    429: "error.rate_limited",
    500: "error.internal",
    503: "error.unavailable",
}


def error_page(status: int, code: str | None = None, message: str | None = None) -> Response:
    """Render a plain, translated error page (never JSON) for a shopper's request."""
    t = i18n.translator(language())
    key = f"error.{code}" if code and f"error.{code}.title" in i18n.EN else ERROR_KEYS.get(status, "error")
    title = t(f"{key}.title") if f"{key}.title" in i18n.EN else t("error.title")
    body = t(f"{key}.body") if f"{key}.body" in i18n.EN else (message or "")
    response = render("error.html", status=status, title=title, body=body)
    if status in (429, 503):
        response.headers["Retry-After"] = str(services().config.RETRY_AFTER_SECONDS)
    return response


def html_errors(view: Callable[P, R]) -> Callable[P, Response | R]:
    """Answer a page's refusals and outages with an HTML page; the app's handlers speak JSON."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response | R:
        try:
            return view(*args, **kwargs)
        except ShopError as error:
            return error_page(http_status(error), error.code, error.message)
        except HTTPException as error:
            return error_page(error.code or 500)
        except (RedisConnectionError, RedisTimeoutError, OperationalError) as error:
            log.warning("page unavailable: %s", error)
            return error_page(503)

    return wrapper


# Blueprints whose every answer is JSON, whoever asks.
JSON_BLUEPRINTS = frozenset({"api", "admin", "openapi", "health"})


def browser_error_page(status: int) -> Response | None:
    """Render an error as a page for a browser at a page (or unrouted) address; None for API clients.

    The app's JSON error handlers ask this first, so a shopper never sees a JSON body or a bare
    500. If the page itself cannot be rendered, the JSON answer stands.
    """
    if request.blueprint in JSON_BLUEPRINTS or api_client():
        return None
    try:
        return error_page(status)
    except Exception:
        log.exception("the error page itself failed")
        return None


@bp.app_errorhandler(CSRFError)
def csrf_refused(error: CSRFError) -> Response:
    """Refuse a form sent without a valid CSRF token with a page that says what to do."""
    return error_page(400, code="csrf")


@bp.app_errorhandler(404)
def unknown_address(error: HTTPException) -> Response:
    """Show a browser a page for an address nobody serves; API clients keep the JSON error."""
    if api_client():
        return error_response(NotFound(error.description or "Not found.", code="not_found"))
    return error_page(404)


def read_limit() -> str:
    return api.read_limit()


def cart_limit() -> str:
    return api.cart_limit()


def payment_limit() -> str:
    return api.payment_limit()


def _form_key(name: str) -> str:
    """Return a form's one-time key (double submits reuse it), or a fresh one if it is missing."""
    key = request.form.get(name, "")
    return key if FORM_KEY_PATTERN.match(key) else secrets.token_urlsafe(16)


def _to_wait(adm: admission.Admission) -> Response:
    return redirect(url_for("pages.wait", job_id=adm.job_id, ahead=adm.position), 303)


def _safe_next(target: str | None) -> str:
    """Only ever go back to a page of this site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.storefront")


# --- storefront and product --------------------------------------------------------------------


def _catalog_query(args: Any) -> tuple[CatalogQuery, str]:
    """Turn the storefront's query string into the catalog query the JSON API also uses.

    "Next" links carry only the API's cursor, which holds the whole listing it continues.
    """
    if args.get("cursor"):
        query = CatalogQuery.from_args({"cursor": args["cursor"]})
        named = {keys: name for name, keys in SORTS.items()}
        return query, named.get((query.sort_by, query.sort_dir), "sales")
    searching = bool((args.get("search") or "").strip())
    default = "relevance" if searching else "sales"
    sort = args.get("sort", default)
    if sort not in SORTS or (sort == "relevance" and not searching):
        sort = default
    sort_by, sort_dir = SORTS[sort]
    query = CatalogQuery.from_args(
        {
            "page": args.get("page", "1"),
            "limit": str(PAGE_SIZE),
            "sortBy": sort_by,
            "sortDir": sort_dir,
            "category": args.get("category", ""),
            "search": args.get("search", ""),
        }
    )
    return query, sort


@bp.get("/")
@html_errors
@limiter.limit(read_limit)
def storefront() -> Response:
    query, sort = _catalog_query(request.args)
    with services().db.reading() as session:
        page = list_products(session, query)
        category_list = categories(session)
    return render(
        "storefront.html",
        page=page,
        query=query,
        sort=sort,
        sorts=SORTS,
        categories=category_list,
        max_offset=MAX_OFFSET,
    )


@bp.get("/p/<sku>")
@html_errors
@limiter.limit(read_limit)
def product(sku: str) -> Response:
    return _product_page(sku)


def _product_page(sku: str, status: int = 200, error: str | None = None) -> Response:
    with services().db.reading() as session:
        row = find_product(session, sku)
        item, held = product_view(row), row.reserved
    similar = waiting.similar_products(services(), item) if item["available"] <= 0 else []
    config = services().config
    return render(
        "product.html",
        status=status,
        product=item,
        held=held if item["available"] <= 0 else 0,
        similar=similar,
        hold_minutes=max(1, config.HOLD_TTL_SECONDS // 60),
        waitlist_minutes=max(1, config.WAITLIST_TTL_SECONDS // 60),
        error=error,
    )


@bp.post("/p/<sku>")
@html_errors
@limiter.limit(cart_limit)
def add_to_cart(sku: str) -> Response:
    sku = valid_sku(sku)
    qty = valid_qty(request.form.get("qty", "1"), minimum=1, from_path=True)
    waitlist = request.form.get("waitlist") == "1"
    uom = request.form.get("uom", "")
    if uom and not UOM_PATTERN.match(uom):
        uom = "\x00"  # never a unit: refused below as unknown
    cart_id = current_cart(create=True)
    assert cart_id is not None
    try:
        adm = admission.request_hold(
            services(), cart_id, sku, qty, shopper=shopper_from_request(), waitlist=waitlist, uom=uom
        )
    except Invalid as refused:
        t = i18n.translator(language())
        if refused.code == "limit_exceeded":
            return _product_page(sku, 422, t("error.limit_exceeded", max=refused.details["max_per_cart"]))
        if refused.code == "unknown_uom":
            return _product_page(sku, 422, t("error.unknown_uom"))
        if refused.code == "customer_limit_exceeded":
            message = t(
                "error.customer_limit_exceeded",
                max=refused.details["max_per_customer"],
                has=refused.details["customer_has"],
            )
            return _product_page(sku, 422, message)
        raise
    return _to_wait(adm)


# --- the waiting room --------------------------------------------------------------------------


def _find_wait(job_id: str, with_product: bool = True) -> waiting.Wait:
    cart_id = current_cart()
    if cart_id is None or not api.JOB_ID_PATTERN.match(job_id):
        raise NotFound(admission.UNKNOWN_JOB_MESSAGE, code="unknown_job")
    return waiting.find_wait(services(), cart_id, job_id, with_product=with_product)


def _forward_to(wait: waiting.Wait) -> str | None:
    """Where a finished request sends its shopper straight on to (its order, or the cart)."""
    if wait.outcome not in waiting.FORWARDED_OUTCOMES or wait.result is None:
        return None
    if wait.outcome == "order_created":
        return url_for("pages.order", order_id=wait.result["order_id"])
    return url_for("pages.cart")


def _whole_seconds(raw: str) -> int:
    """A small whole number of seconds from the query string; anything else is 0 (no waiting)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else 0


def _start_ahead(wait: waiting.Wait) -> int:
    """How many were ahead when the shopper joined (for the progress bar), never fewer than now."""
    raw = request.args.get("ahead", "")
    start = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 9 else 0
    return max(start, wait.ahead or 0)


def _wait_context(wait: waiting.Wait) -> dict[str, Any]:
    suggestions: list[dict] = []
    if wait.outcome in ("sold_out", "insufficient") and wait.product is not None:
        suggestions = waiting.similar_products(services(), wait.product)
    return {
        "wait": wait,
        "start": _start_ahead(wait),
        "suggestions": suggestions,
        "held_seconds": waiting.seconds_held(wait),
        "max_wait_s": services().config.LONG_POLL_MAX_SECONDS,
    }


@bp.get("/wait/<job_id>")
@html_errors
@limiter.limit(read_limit)
def wait(job_id: str) -> Response:
    current = _find_wait(job_id)
    target = _forward_to(current)
    if target:
        return redirect(target, 303)
    texts = _wait_texts(i18n.translator(language()), current)
    return render("wait.html", wait_texts=texts, autofocus=True, **_wait_context(current))


@bp.get("/wait/<job_id>/status")
@limiter.limit(read_limit)
def wait_status(job_id: str) -> Response:
    """Tell the waiting page's script where the request stands (same origin, so the cookie is the cart).

    While the request waits this reads Redis only (one round trip); the database is read once the
    request is decided, to render its outcome.
    """
    current = _find_wait(job_id, with_product=False)
    wait_s = min(_whole_seconds(request.args.get("wait", "")), services().config.LONG_POLL_MAX_SECONDS)
    if wait_s and not current.finished and services().decisions is not None:
        # Answer when the request is decided, or after wait_s with its place then: the page asks
        # at its own pace and still learns the decision the moment it is made.
        current = services().decisions.wait(
            current.lane, lambda: _find_wait(job_id, with_product=False), lambda w: w.finished, wait_s
        )
    if current.finished:
        current = _find_wait(job_id)
    t = i18n.translator(language())
    odds = current.odds
    body: dict[str, Any] = {
        "status": current.status,
        "finished": current.finished,
        "paused": current.line_paused,
        "ahead": current.ahead,
        "place": current.place,
        "poll_after_ms": current.poll_after_ms,
        "units_left": current.units_left,
        "waitlisted": current.waitlisted,
        "prequeued": current.prequeued,
        "sale_starts_in_seconds": current.starts_in,
        "odds": odds.to_dict() if odds else None,
        "eta_seconds": current.eta.to_dict() if current.eta else None,
        "forward_to": _forward_to(current),
    }
    body.update(_wait_texts(t, current))
    if current.finished and not body["forward_to"]:
        body["html"] = render_template("_outcome.html", **_outcome_context(current))
    return jsonify(body)


OUTCOME_TITLES = {
    "held": "outcome.held.title",
    "sold_out": "outcome.sold_out.title",
    "insufficient": "outcome.insufficient.title",
    "limit_exceeded": "outcome.limit.title",
    "customer_limit_exceeded": "outcome.customer_limit.title",
    "sale_not_started": "outcome.not_started.title",
    "released": "outcome.released.title",
    "empty_cart": "outcome.empty_cart.title",
    "holds_expired": "outcome.holds_expired.title",
    "order_created": "outcome.order_created.title",
}


def _wait_texts(t: Callable[..., str], current: waiting.Wait) -> dict[str, str]:
    """The sentences the waiting page shows, in the shopper's language."""
    checkout = current.is_checkout
    if current.finished:
        place = t(OUTCOME_TITLES.get(current.outcome or "", "outcome.error.title"))
    elif current.waitlisted:
        place = t("wait.waitlist_place", n=current.place or 1)
    elif current.prequeued:
        place = t("wait.prequeue_place")
    elif current.serving_now or current.place is None:
        place = t("wait.your_turn_checkout" if checkout else "wait.your_turn")
    else:
        place = t("wait.place_checkout" if checkout else "wait.place", n=current.place)
    eta = current.eta
    if current.line_paused:
        estimate = t("wait.paused")  # nothing moves: no estimate, only the promise that the place is kept
    elif eta:
        estimate = t("wait.estimate", d=i18n.duration_range(t, eta.low, eta.high))
    else:
        estimate = t("wait.estimating")
    units = t("wait.units_left", n=current.units_left) if current.units_left is not None else ""
    odds = current.odds
    held = t("wait.units_held", n=odds.held) if odds and odds.held else ""
    verdict = odds.verdict if odds and odds.verdict else None
    until = current.waitlist_until
    waitlist_text = t("wait.waitlist_note", time=i18n.wib_time(until)) if until else ""
    if current.waitlisted:
        estimate = t("wait.estimate_waitlist")
    if current.prequeued:
        estimate = t("wait.estimate_prequeue")
    title = place
    if not current.finished:
        title = t("wait.checkout_title" if checkout else "wait.title") if current.place is None else place
    return {
        "title": title,
        "place_text": place,
        "waitlist_text": waitlist_text,
        "estimate_text": estimate,
        "units_text": units,
        "held_text": held,
        "verdict": str(verdict) if verdict else "",
        "verdict_text": t(f"wait.odds.{verdict}") if verdict else "",
    }


def _outcome_context(current: waiting.Wait) -> dict[str, Any]:
    lang = language()
    t = i18n.translator(lang)
    context = _wait_context(current)
    context.update(
        t=t,
        lang=lang,
        rupiah=i18n.rupiah,
        clock=i18n.clock,
        wib_moment=i18n.wib_moment,
        category_name=lambda category: i18n.category_name(t, category),
        catalog_lang=i18n.CATALOG_LANGUAGE,
        autofocus=False,  # the script moves focus to the result it inserts
    )
    return context


# --- the cart ----------------------------------------------------------------------------------


@bp.get("/cart")
def cart() -> Response:
    if api_client():
        return api.show_cart()
    return _cart_page()


@html_errors
@limiter.limit(read_limit)
def _cart_page() -> Response:
    cart_id = current_cart()
    view: dict[str, Any] = {"items": [], "total": 0, "open_orders": []}
    products: dict[str, dict[str, Any]] = {}
    pending: list[str] = []
    if cart_id is not None:
        with services().db.reading() as session:
            view = cart_view(session, cart_id)
            for item in view["items"]:
                products[item["sku"]] = product_view(find_product(session, item["sku"]))
        pending = services().lanes.pending_jobs(cart_id)
    held = [item for item in view["items"] if item["status"] == "held"]
    now = utcnow()
    orders = [
        {**o, "seconds_left": max(0, int((datetime.fromisoformat(o["pay_before"]) - now).total_seconds()))}
        for o in view["open_orders"]
    ]
    return render(
        "cart.html",
        open_orders=orders,
        cart=view,
        held=held,
        products=products,
        pending=pending,
        checkout_key=secrets.token_urlsafe(16),
    )


@bp.post("/cart/items/<sku>")
@html_errors
@limiter.limit(cart_limit)
def change_line(sku: str) -> Response:
    sku = valid_sku(sku)
    qty = valid_qty(request.form.get("qty", ""), minimum=0, from_path=True)
    cart_id = current_cart(create=True)
    assert cart_id is not None
    return _to_wait(admission.request_quantity(services(), cart_id, sku, qty, shopper=shopper_from_request()))


@bp.post("/cart/checkout")
@html_errors
@limiter.limit(cart_limit)
def checkout() -> Response:
    cart_id = current_cart()
    if cart_id is None:
        return redirect(url_for("pages.cart"), 303)
    return _to_wait(admission.request_checkout(services(), cart_id, "page-" + _form_key("key")))


# --- orders and payment ------------------------------------------------------------------------


@bp.get("/orders/<order_id>")
def order(order_id: str) -> Response:
    if api_client():
        return api.order(order_id)
    return _order_page(order_id)


def _find_order_view(order_id: str) -> dict[str, Any]:
    cart_id = current_cart()
    if cart_id is None or not api.ORDER_ID_PATTERN.match(order_id):
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


PAYMENT_REFUSAL_NOTES = {
    "payment_in_progress": "order.processing",
    "payment_failed": "order.retry",
}


@bp.post("/orders/<order_id>/pay")
@html_errors
@limiter.limit(payment_limit)
def pay(order_id: str) -> Response:
    view = _find_order_view(order_id)
    t = i18n.translator(language())
    card = re.sub(r"[\s-]", "", request.form.get("card_number", ""))
    if not luhn_valid(card):
        return _order_page(order_id, 422, t("order.invalid_card"))
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
                idempotency_key="page-" + _form_key("key"),
                wait=timedelta(seconds=svc.config.PAYMENT_WAIT_SECONDS),
            )
    except OrderNotPayable as refusal:
        # Paid or expired meanwhile: the order page says which. The other refusals it cannot show.
        if refusal.code in PAYMENT_REFUSAL_NOTES:
            flash(t(PAYMENT_REFUSAL_NOTES[refusal.code]))
    except Invalid:
        flash(t("order.retry"))
    else:
        if answer.status == "paid":
            admission.request_allocation(svc, view["order_id"])
        if answer.status == "declined":
            flash(t("order.declined"))
        elif answer.status == "processing":
            flash(t("order.processing"))
    return redirect(url_for("pages.order", order_id=view["order_id"]), 303)


# --- language ----------------------------------------------------------------------------------


@bp.post("/language")
@html_errors
def set_language() -> Response:
    chosen = request.form.get("lang", "")
    if chosen not in i18n.LANGUAGES:
        raise Malformed("Unknown language.", code="invalid_language")
    response = redirect(_safe_next(request.form.get("next")), 303)
    response.set_cookie(
        i18n.LANG_COOKIE,
        chosen,
        max_age=LANG_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=cookie_secure(),
    )
    return response
