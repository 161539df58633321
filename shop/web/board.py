"""The operators' pages: login, the live sale board, pause/resume buttons."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, session, url_for

from shop.domain.catalog import find_product, stock_view
from shop.domain.errors import Malformed, NotAllowed, NotFound
from shop.domain.requests import sku_lane
from shop.lanes import fulfilment, pausing
from shop.web.board_paging import DEFAULT_LIMIT, BoardQuery, sale_board_page
from shop.web.extensions import csrf
from shop.web.helpers import services, valid_sku
from shop.web.operators import (
    SESSION_FLAG,
    check_operator,
    login_page,
    operator_area_enabled,
    operator_page,
    same_origin,
)
from shop.web.schemas import requests as rq

bp = Blueprint("board", __name__, url_prefix="/admin")

BOARD_REFRESH_S = 5
MOVEMENTS_PER_PAGE = 25
SPARK_WIDTH = 120
SPARK_HEIGHT = 28
SORT_LABELS = {
    "hottest": "Hottest first",
    "in_line": "Longest line first",
    "available": "Least available first",
    "expiring": "Most expiring first",
}


def protect_form() -> None:
    """Refuse a cross-site form post: a session needs the CSRF token, Basic auth a same-origin request."""
    if session.get(SESSION_FLAG):
        csrf.protect()
    elif not same_origin():
        raise NotAllowed("Cross-site request refused.", code="cross_site")


def sparkline(values: list[int]) -> str:
    """Return SVG polyline points for a series, scaled into the sparkline box."""
    if not values:
        return ""
    high = max(values) or 1
    step = SPARK_WIDTH / max(1, len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{SPARK_HEIGHT - 2 - (v / high) * (SPARK_HEIGHT - 4):.1f}"
        for i, v in enumerate(values)
    )


@bp.get("")
@operator_page
def board() -> Response | tuple[str, int] | str:
    """One page of the board: the order and search from the form, Next through the cursor."""
    svc = services()
    try:
        query = rq.board_query(request.args, svc.config.SECRET_KEY)
        page = sale_board_page(svc, query)
    except Malformed as refused:
        if refused.code == "cursor_expired":
            # The ranking the page followed is gone: start the walk again from the first page.
            return redirect(url_for("board.board", **_first_page_args(query)), code=303)
        return _board_page(BoardQuery(), None, error=refused.message), 400
    return _board_page(query, page)


def _first_page_args(query: BoardQuery) -> dict[str, Any]:
    args: dict[str, Any] = {"sortBy": query.sort_by}
    if query.search:
        args["search"] = query.search
    if query.limit != DEFAULT_LIMIT:
        args["limit"] = query.limit
    return args


def _board_page(query: BoardQuery, page: dict[str, Any] | None, error: str | None = None) -> str:
    rows = page["skus"] if page else []
    for row in rows:
        row["queue_points"] = sparkline([p["queue"] for p in row["history"]])
        row["available_points"] = sparkline([p["available"] for p in row["history"]])
    next_url = None
    if page and page["next_cursor"]:
        next_args: dict[str, Any] = {"cursor": page["next_cursor"]}
        if query.limit != DEFAULT_LIMIT:
            next_args["limit"] = query.limit
        next_url = url_for("board.board", **next_args)
    return render_template(
        "admin/board.html",
        rows=rows,
        query=query,
        sorts=SORT_LABELS,
        next_url=next_url,
        first_url=url_for("board.board", **_first_page_args(query)) if request.args.get("cursor") else None,
        error=error,
        default_limit=DEFAULT_LIMIT,
        refresh=BOARD_REFRESH_S,
        width=SPARK_WIDTH,
        height=SPARK_HEIGHT,
    )


@bp.get("/board/<sku>")
@operator_page
def product_stock(sku: str) -> str:
    """One SKU: its stock at each location and its item movements, newest first, a page at a time."""
    sku = valid_sku(sku)
    page = request.args.get("page", default=1, type=int) or 1
    with services().db.reading() as db:
        try:
            product = find_product(db, sku)
        except NotFound:
            abort(404)  # the site's 404 page for a browser, JSON for a script
        shown = {
            "sku": sku,
            "name": product.name,
            "available": product.available,
            "locations": stock_view(product),
        }
    shown["movements"] = fulfilment.movements_page(services(), sku, max(1, page), MOVEMENTS_PER_PAGE)
    return render_template("admin/product.html", **shown)


@bp.get("/login")
def login_form() -> Response:
    if not operator_area_enabled():
        raise NotFound("Not found.")
    return login_page(status=200)


@bp.post("/login")
def login() -> Response:
    if not operator_area_enabled():
        raise NotFound("Not found.")
    csrf.protect()
    if not check_operator(request.form.get("username", ""), request.form.get("password", "")):
        return login_page(status=401, error="Wrong user name or password.")
    session.clear()
    session[SESSION_FLAG] = True
    target = request.form.get("next", "")
    # Only ever go back to a page of this site.
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("board.board")
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> Response:
    csrf.protect()
    session.pop(SESSION_FLAG, None)
    return redirect(url_for("board.login_form"), code=303)


@bp.post("/board/<sku>/<action>")
@operator_page
def toggle(sku: str, action: str) -> Response:
    if action not in ("pause", "resume"):
        raise NotFound("Not found.")
    protect_form()
    lane = sku_lane(sku)
    if action == "pause":
        pausing.pause_lane(services(), lane)
    else:
        pausing.resume_lane(services(), lane)
    # Back to the board page the button was on; only ever a page of the board itself.
    back = request.form.get("back", "")
    if not re.fullmatch(r"/admin(\?[^\\]*)?", back):
        back = url_for("board.board")
    return redirect(back, code=303)
