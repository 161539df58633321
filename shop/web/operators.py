"""Operator authentication: HTTP Basic for the API and ``/metrics``, a login session for the pages.

Credentials come from OPERATOR_USER / OPERATOR_PASSWORD. The password is hashed once at start-up and
requests are checked against the hash in constant time. With no password configured the operator
area does not exist (404), so a forgotten setting never leaves it open.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, render_template, request, session
from werkzeug.security import check_password_hash, generate_password_hash

from shop.domain.errors import NotAllowed, NotAuthenticated, NotFound

SESSION_FLAG = "operator"
# The blueprints of the operator area: the JSON APIs (products, stock), the board pages, rq-dashboard.
OPERATOR_BLUEPRINTS = frozenset({"admin", "board", "rq_dashboard", "stock_admin"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sec-Fetch-Site values that mean another site made the request ("same-site" is a sibling host).
FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})


def password_hash(password: str) -> str:
    """Hash the configured password once at start-up, so requests compare hashes, not plain text."""
    return generate_password_hash(password)


def operator_area_enabled() -> bool:
    return bool(current_app.extensions.get("shop.operator_hash"))


def check_operator(username: str, password: str) -> bool:
    """Check operator credentials; both comparisons always run, in constant time.

    The password hash is slow on purpose (about 75 ms here), and a script polling the board's
    JSON would pay it on every request. So a password that passed is remembered for
    ``VERIFIED_TTL_S`` as an HMAC under a key this process made up. Only that exact password is
    then checked fast. Any other password still goes through the slow hash, so guessing stays
    as slow as before.
    """
    expected_user = current_app.config["OPERATOR_USER"]
    user_ok = hmac.compare_digest(username.encode(), expected_user.encode())
    return _password_ok(password) and user_ok


VERIFIED_TTL_S = 300
_VERIFY_KEY = secrets.token_bytes(32)


def _password_ok(password: str) -> bool:
    digest = hmac.new(_VERIFY_KEY, password.encode(), hashlib.sha256).digest()
    verified = current_app.extensions.get("shop.operator_verified")
    if verified is not None and verified[1] > time.monotonic() and hmac.compare_digest(verified[0], digest):
        return True
    if not check_password_hash(current_app.extensions["shop.operator_hash"], password):
        return False
    current_app.extensions["shop.operator_verified"] = (digest, time.monotonic() + VERIFIED_TTL_S)
    return True


def is_operator() -> bool:
    """True if the request carries operator credentials (Basic) or a logged-in operator session."""
    if session.get(SESSION_FLAG):
        return True
    auth = request.authorization
    return bool(auth and auth.type == "basic" and check_operator(auth.username or "", auth.password or ""))


def _names_this_host(url: str) -> bool:
    return urlsplit(url).netloc == request.host


def foreign_header() -> str | None:
    """Name the browser header that says the request comes from another site, or None.

    A client that sends none of them (curl, Prometheus, scripts) is not a browser a hostile page
    can drive; browsers send Origin with every cross-site POST, and Sec-Fetch-Site with every
    request. An Origin of "null" (a sandboxed frame, a file: page) is foreign too.
    """
    if request.headers.get("Sec-Fetch-Site", "").strip().lower() in FOREIGN_FETCH_SITES:
        return "Sec-Fetch-Site"
    origin = request.headers.get("Origin")
    if origin is not None and not _names_this_host(origin):
        return "Origin"
    referer = request.headers.get("Referer")
    if referer and not _names_this_host(referer):
        return "Referer"
    return None


def same_origin() -> bool:
    """True unless a browser header says the request comes from another site."""
    return foreign_header() is None


def refuse_cross_site_operator_requests() -> None:
    """Refuse every unsafe request to the operator area from another site, whatever its credentials.

    Runs before any view, so a route added later is covered. Browsers keep HTTP Basic credentials
    after the 401 prompt and send them with requests any page makes, so Basic auth is no proof that
    the operator meant the request; a session cookie is no proof either.
    """
    if request.method not in UNSAFE_METHODS or request.blueprint not in OPERATOR_BLUEPRINTS:
        return
    if not operator_area_enabled():
        return  # the views answer 404
    header = foreign_header()
    if header is not None:
        raise NotAllowed(
            f"Cross-site request refused: its {header} header says it comes from another site. "
            "Operator changes must come from this site's pages or from a client such as curl.",
            code="cross_site",
            header=header,
        )


def _operators_only(view: Callable[..., Any], refuse: Callable[[], Any]) -> Callable[..., Any]:
    """The view for operators; 404 where the operator area is off, ``refuse()`` for anyone else.
    Cross-site unsafe requests never get here: refuse_cross_site_operator_requests."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not operator_area_enabled():
            raise NotFound("Not found.")
        if not is_operator():
            return refuse()
        return view(*args, **kwargs)

    return wrapped


def _credentials_required() -> Any:
    raise NotAuthenticated("Operator credentials are required.")


def operator_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse the JSON view with 401 unless the request comes from an operator."""
    return _operators_only(view, _credentials_required)


def login_page(status: int = 401, error: str | None = None) -> Response:
    response = Response(
        render_template("admin/login.html", error=error, next=request.full_path.rstrip("?")), status=status
    )
    return response


def operator_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse an operator page with 401 and the login form unless the request comes from an operator."""
    return _operators_only(view, login_page)


def challenge(response: Response) -> Response:
    """Offer Basic auth on 401s of the JSON operator API (not on login pages)."""
    if response.status_code == 401 and response.mimetype == "application/json":
        response.headers["WWW-Authenticate"] = 'Basic realm="shop operators", charset="UTF-8"'
    return response


def protect_blueprint_before_request() -> Response | None:
    """Guard a third-party blueprint (rq-dashboard) that has no authentication of its own."""
    if not operator_area_enabled():
        raise NotFound("Not found.")
    if not is_operator():
        return login_page()
    if request.endpoint == "rq_dashboard.requeue_all" and request.method == "GET":
        # rq-dashboard also accepts this state change as a GET, which a link could trigger.
        raise NotAllowed("Requeueing needs a POST.", code="post_required")
    # Cross-site posts were refused before this guard: refuse_cross_site_operator_requests.
    return None
