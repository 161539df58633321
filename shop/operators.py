"""Operator authentication: HTTP Basic against OPERATOR_USER / OPERATOR_PASSWORD.

With no password configured the operator area does not exist (404), so a forgotten setting never
leaves it open.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, request
from werkzeug.security import check_password_hash, generate_password_hash

from shop.errors import NotFound, ShopError


class Unauthorized(ShopError):
    status = 401
    code = "unauthorized"


def password_hash(password: str) -> str:
    """Hash the configured password once at start-up, so requests compare hashes, not plain text."""
    return generate_password_hash(password)


def check_operator(username: str, password: str) -> bool:
    """Check operator credentials; both comparisons run whatever the user name, in constant time."""
    expected_user = current_app.config["OPERATOR_USER"]
    stored = current_app.extensions["shop.operator_hash"]
    user_ok = hmac.compare_digest(username.encode(), expected_user.encode())
    password_ok = check_password_hash(stored, password)
    return user_ok and password_ok


def operator_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse the view with 401 unless the request carries the operator's credentials."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_app.extensions.get("shop.operator_hash"):
            raise NotFound("Not found.")
        auth = request.authorization
        if (
            auth is None
            or auth.type != "basic"
            or not check_operator(auth.username or "", auth.password or "")
        ):
            raise Unauthorized("Operator credentials are required.")
        return view(*args, **kwargs)

    return wrapped


def challenge(response: Response) -> Response:
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="shop operators", charset="UTF-8"'
    return response
