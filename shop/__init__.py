"""The flash-sale shop: a Flask front end that puts cart and checkout requests in per-SKU lines."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from flask import Flask, Response, request
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Config, config_from_env
from shop.domain.carts import CartTokens
from shop.domain.errors import Malformed, RateLimited, ShopError, Unavailable
from shop.lanes.metrics import count_rate_limited
from shop.services import Services, build_services, limiter_storage
from shop.web.assets import init_assets
from shop.web.extensions import csrf, limiter
from shop.web.helpers import error_response
from shop.web.i18n import init_i18n
from shop.web.operators import challenge, password_hash, refuse_cross_site_operator_requests
from shop.web.security import init_security

log = logging.getLogger(__name__)


def create_app(config: Config | None = None, services: Services | None = None) -> Flask:
    """Build the app: configuration, services, rate limiter, blueprints, error handlers, CLI."""
    config = config or config_from_env()
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_object(config)
    storage_uri, storage_options = limiter_storage(config.REDIS_URL)
    app.config.update(
        RATELIMIT_STORAGE_URI=storage_uri,
        RATELIMIT_STORAGE_OPTIONS=storage_options,
        RATELIMIT_ENABLED=config.RATE_LIMIT_ENABLED,
        RATELIMIT_HEADERS_ENABLED=config.RATE_LIMIT_HEADERS,
        RATELIMIT_STRATEGY="fixed-window",
        RATELIMIT_KEY_PREFIX="shop-limits",
        # With Redis down, fall back to per-process in-memory limits instead of failing requests.
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if config.TRUSTED_PROXY_COUNT > 0:
        n = config.TRUSTED_PROXY_COUNT
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    app.extensions["shop"] = services or build_services(config)
    app.extensions["shop.cart_tokens"] = CartTokens(config.SECRET_KEY)
    app.extensions["shop.operator_hash"] = (
        password_hash(config.OPERATOR_PASSWORD) if config.OPERATOR_PASSWORD else None
    )
    limiter.init_app(app)
    csrf.init_app(app)
    init_i18n(app)  # the pages' gettext catalogues and Babel's formatting, in Asia/Jakarta

    from shop.web import admin, api, board, health, openapi, pages, stock_admin

    csrf.exempt(api.bp)
    csrf.exempt(admin.bp)
    csrf.exempt(stock_admin.bp)
    # The board checks auth first (401/404), then CSRF itself (shop.web.board.protect_form).
    csrf.exempt(board.bp)
    app.register_blueprint(health.bp)
    # Before the API: a browser asking for /cart or /orders/<id> gets the page, API clients the JSON.
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(stock_admin.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(board.bp)
    # Before every other guard, so no operator route (rq-dashboard's included) misses it.
    app.before_request(refuse_cross_site_operator_requests)
    _mount_rq_dashboard(app)
    _register_error_handlers(app)
    app.after_request(challenge)
    init_security(app)
    init_assets(app)  # static fingerprints and caching, compression of pages, CSS and JS

    from shop.web.cli import shop_cli

    app.cli.add_command(shop_cli)
    return app


def _mount_rq_dashboard(app: Flask) -> None:
    """Serve rq-dashboard at /rq, on the app's Redis, behind operator authentication."""
    import rq_dashboard
    from rq_dashboard.web import setup_rq_connection

    from shop.web.operators import protect_blueprint_before_request

    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", app.config["REDIS_URL"])
    app.config.setdefault("RQ_DASHBOARD_POLL_INTERVAL", 2500)
    setup_rq_connection(app)

    @app.before_request
    def guard_rq_dashboard() -> Response | None:
        if request.blueprint == "rq_dashboard":
            return protect_blueprint_before_request()
        return None

    # Its own script posts without a CSRF token; the guard above refuses cross-site posts instead.
    csrf.exempt(rq_dashboard.blueprint)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix="/rq")


def _seconds_until_reset(app: Flask) -> int:
    """Seconds until the breached limit's window resets (at least 1), for Retry-After."""
    current = limiter.current_limit
    if current is None:
        return int(app.config["RETRY_AFTER_SECONDS"])
    return max(1, math.ceil(current.reset_at - time.time()))


def _register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ShopError, error_response)

    @app.errorhandler(429)
    def rate_limited(error: HTTPException) -> Response:
        response = error_response(RateLimited("Too many requests; slow down and retry shortly."))
        count_rate_limited(app.extensions["shop"].redis)
        response.headers["Retry-After"] = str(_seconds_until_reset(app))
        return response

    from shop.web.pages import browser_error_page

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        page = browser_error_page(error.code or 500)
        if page is not None:
            return page
        code = (error.name or "error").lower().replace(" ", "_")
        response = error_response(ShopError(error.description or error.name, code=code), error.code or 500)
        if error.code == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response

    for kinds, logged, refusal in OUTAGES:
        for kind in kinds:
            app.register_error_handler(kind, _answer_outage(logged, refusal))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        page = browser_error_page(500)  # a browser gets a page with a way back; API clients the JSON
        if page is not None:
            return page
        return error_response(ShopError("Something went wrong on our side.", code="internal_error"), 500)


# What the shop answers when Redis or the database fails under a request (a warning, no traceback):
# the exceptions, the log line, and the answer's error.
OUTAGES: tuple[tuple[tuple[type[Exception], ...], str, ShopError], ...] = (
    (
        (RedisConnectionError, RedisTimeoutError),
        "redis unavailable",
        Unavailable("The waiting room is briefly unavailable; retry shortly.", code="redis_unavailable"),
    ),
    # The database refused a value the validators let through (e.g. a NUL in PostgreSQL text).
    (
        (DataError,),
        "database refused a value",
        Malformed("The request contains a value that cannot be stored.", code="invalid_value"),
    ),
    (
        (OperationalError,),
        "database unavailable",
        Unavailable("The shop is briefly unavailable; retry shortly.", code="database_unavailable"),
    ),
)


def _answer_outage(logged: str, refusal: ShopError) -> Callable[[Exception], Response]:
    def answer(error: Exception) -> Response:
        log.warning("%s: %s", logged, error)
        return error_response(refusal)

    return answer
