"""The language switch in every page's header: a cookie the locale selector reads (shop.web.i18n)."""

from __future__ import annotations

from flask import Response, redirect, request

from shop.domain.errors import Malformed
from shop.web.i18n import LANG_COOKIE, LANGUAGES
from shop.web.pages.shell import bp, html_errors, safe_next
from shop.web.security import cookie_secure

LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


@bp.post("/language")
@html_errors
def set_language() -> Response:
    chosen = request.form.get("lang", "")
    if chosen not in LANGUAGES:
        raise Malformed("Unknown language.", code="invalid_language")
    response = redirect(safe_next(request.form.get("next")), 303)
    response.set_cookie(
        LANG_COOKIE,
        chosen,
        max_age=LANG_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=cookie_secure(),
    )
    return response
