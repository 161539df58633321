"""Security headers on every response: pages, JSON, errors and static files alike.

Pages load only this site's own scripts and styles, so their policy forbids inline script. JSON
answers are never rendered, so theirs forbids everything. A blueprint may set a stricter or more
specific policy of its own (the shopper pages do); it is kept.

rq-dashboard (mounted at ``/rq``) is the one exception: its ``base.html`` renders each page's
script inline in a ``<script>`` element, its pages compile their HTML templates with underscore's
``_.template`` (``new Function``, hence ``'unsafe-eval'``) and its markup carries ``style=``
attributes. Its policy allows exactly that, still only from this site (no CDN: it ships its own
jQuery, Bootstrap and CSS), and still refuses framing. It is an operator-only page behind
operator authentication, and every value it shows comes from our own Redis.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
JSON_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
RQ_DASHBOARD_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def init_security(app: Flask) -> None:
    """Add the security headers to every response of the app; mark its cookies Secure as configured."""
    app.after_request(add_security_headers)
    app.session_interface = SessionCookies()


def cookie_secure() -> bool:
    """Whether a cookie set in this request is marked Secure (COOKIE_SECURE: auto, always, never)."""
    from flask import current_app

    mode = current_app.config.get("COOKIE_SECURE", "auto")
    if mode == "always":
        return True
    return mode == "auto" and request.is_secure


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, Secure per COOKIE_SECURE instead of one fixed setting."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return cookie_secure()


def add_security_headers(response: Response) -> Response:
    """Set the content security policy for this kind of response, and the fixed headers."""
    if request.blueprint == "rq_dashboard":
        response.headers["Content-Security-Policy"] = RQ_DASHBOARD_POLICY
    elif response.mimetype == "application/json":
        response.headers.setdefault("Content-Security-Policy", JSON_POLICY)
    else:
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
