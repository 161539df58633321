"""What every shopper page shares: the blueprint, the cart cookie, rendering, HTML error pages.

The pages read the cart from its signed HttpOnly cookie, answer with HTML (never JSON), and keep
per-shopper pages out of caches behind a strict content policy.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from shop.domain.carts import cart_view
from shop.domain.errors import NotFound, ShopError
from shop.lanes import admission
from shop.web import wording
from shop.web.helpers import CART_HEADER, cart_tokens, error_response, services, valid_qty, valid_sku
from shop.web.i18n import language
from shop.web.security import cookie_secure
from shop.web.statuses import http_status

log = logging.getLogger(__name__)

bp = Blueprint("pages", __name__)

P = ParamSpec("P")
R = TypeVar("R")

CART_COOKIE = "cart"
CART_COOKIE_MAX_AGE = 30 * 24 * 3600
FORM_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Pages load only this site's own CSS and JS: no inline script, no inline style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# Blueprints whose every answer is JSON, whoever asks.
JSON_BLUEPRINTS = frozenset({"api", "admin", "openapi", "health"})


# --- the shopper's cart ------------------------------------------------------------------------


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


def page_context() -> dict[str, Any]:
    """What every shopper template (and the outcome fragment the waiting page's script gets) reads."""
    return {
        "lang": language(),
        "category_name": wording.category_name,
        "status_label": wording.status_label,
        "outcome_title": wording.outcome_title,
    }


def render(template: str, status: int = 200, **context: Any) -> Response:
    """Render a page in the shopper's language, with the cart badge and the way back here."""
    return Response(
        render_template(
            template,
            cart_count=_cart_count,
            here=request.full_path.rstrip("?") if request.method == "GET" else url_for("pages.storefront"),
            **page_context(),
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


def error_page(status: int, code: str | None = None, message: str | None = None) -> Response:
    """Render a plain, translated error page (never JSON) for a shopper's request."""
    title, body = wording.error_texts(status, code, message)
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


# --- forms and redirects -----------------------------------------------------------------------


def form_line(sku: str, minimum: int, default: str = "") -> tuple[str, int]:
    """Read a cart form's SKU (from its address) and quantity (from its ``qty`` field)."""
    return valid_sku(sku), valid_qty(request.form.get("qty", default), minimum=minimum, from_path=True)


def form_key(name: str) -> str:
    """Return a form's one-time key (double submits reuse it), or a fresh one if it is missing."""
    key = request.form.get(name, "")
    return key if FORM_KEY_PATTERN.match(key) else secrets.token_urlsafe(16)


def to_wait(adm: admission.Admission) -> Response:
    """Send the shopper to the waiting page of the request just put in line."""
    return redirect(url_for("pages.wait", job_id=adm.job_id, ahead=adm.position), 303)


def safe_next(target: str | None) -> str:
    """Only ever go back to a page of this site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.storefront")
