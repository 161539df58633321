"""Operator authentication: HTTP Basic for the API and ``/metrics``, a login session for the pages.

Credentials come from OPERATOR_USER / OPERATOR_PASSWORD. The password is hashed once at start-up and
requests are checked against the hash in constant time. With no password configured the operator
area does not exist (404), so a forgotten setting never leaves it open.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, render_template, request, session
from werkzeug.security import check_password_hash, generate_password_hash

from shop.errors import NotFound, ShopError

SESSION_FLAG = "operator"


class Unauthorized(ShopError):
    status = 401
    code = "unauthorized"


class Forbidden(ShopError):
    status = 403
    code = "forbidden"


def password_hash(password: str) -> str:
    """Hash the configured password once at start-up, so requests compare hashes, not plain text."""
    return generate_password_hash(password)


def operator_area_enabled() -> bool:
    return bool(current_app.extensions.get("shop.operator_hash"))


def check_operator(username: str, password: str) -> bool:
    """Check operator credentials; both comparisons always run, in constant time."""
    expected_user = current_app.config["OPERATOR_USER"]
    stored = current_app.extensions["shop.operator_hash"]
    user_ok = hmac.compare_digest(username.encode(), expected_user.encode())
    password_ok = check_password_hash(stored, password)
    return user_ok and password_ok


def is_operator() -> bool:
    """True if the request carries operator credentials (Basic) or a logged-in operator session."""
    if session.get(SESSION_FLAG):
        return True
    auth = request.authorization
    return bool(auth and auth.type == "basic" and check_operator(auth.username or "", auth.password or ""))


def same_origin() -> bool:
    """Refuse cross-site state changes: a browser's Origin (or Referer) must name this host."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return True  # not a browser form post (curl, Prometheus, scripts)
    return urlsplit(source).netloc == request.host


def operator_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse the JSON view with 401 unless the request comes from an operator."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not operator_area_enabled():
            raise NotFound("Not found.")
        if not is_operator():
            raise Unauthorized("Operator credentials are required.")
        if request.method not in ("GET", "HEAD") and session.get(SESSION_FLAG) and not same_origin():
            raise Forbidden("Cross-site request refused.", code="cross_site")
        return view(*args, **kwargs)

    return wrapped


def login_page(status: int = 401, error: str | None = None) -> Response:
    response = Response(
        render_template("admin/login.html", error=error, next=request.full_path.rstrip("?")), status=status
    )
    return response


def operator_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse an operator page with 401 and the login form unless the request comes from an operator."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not operator_area_enabled():
            raise NotFound("Not found.")
        if not is_operator():
            return login_page()
        return view(*args, **kwargs)

    return wrapped


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
        raise Forbidden("Requeueing needs a POST.", code="post_required")
    if request.method not in ("GET", "HEAD") and not same_origin():
        raise Forbidden("Cross-site request refused.", code="cross_site")
    return None
