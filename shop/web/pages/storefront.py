"""The storefront and the product page, and "Add to cart" (which puts the request in line)."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_babel import gettext as _

from shop.domain.catalog import (
    MAX_OFFSET,
    CatalogQuery,
    categories,
    find_product,
    list_products,
    product_view,
)
from shop.domain.errors import Invalid
from shop.domain.products import UOM_PATTERN
from shop.lanes import admission
from shop.web import waiting, wording
from shop.web.extensions import limiter
from shop.web.helpers import cart_limit, read_limit, services, shopper_from_request
from shop.web.pages.shell import bp, current_cart, form_line, html_errors, render, to_wait
from shop.web.schemas.requests import catalog_query

PAGE_SIZE = 12
# The storefront's sort menu, as the catalog query's (sortBy, sortDir); labels in shop.web.wording.
SORTS: dict[str, tuple[str, str]] = {
    "relevance": ("relevance", "desc"),  # offered with a search only, and its default
    "sales": ("sales", "desc"),
    "price": ("price", "asc"),
    "price-desc": ("price", "desc"),
    "newest": ("newest", "desc"),
}


def _catalog_query(args: Any) -> tuple[CatalogQuery, str]:
    """Turn the storefront's query string into the catalog query the JSON API also uses.

    "Next" links carry only the API's cursor, which holds the whole listing it continues.
    """
    if args.get("cursor"):
        query = catalog_query({"cursor": args["cursor"]})
        named = {keys: name for name, keys in SORTS.items()}
        return query, named.get((query.sort_by, query.sort_dir), "sales")
    searching = bool((args.get("search") or "").strip())
    default = "relevance" if searching else "sales"
    sort = args.get("sort", default)
    if sort not in SORTS or (sort == "relevance" and not searching):
        sort = default
    sort_by, sort_dir = SORTS[sort]
    query = catalog_query(
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
        sorts=wording.sort_labels(),
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


def _refusal_text(refused: Invalid) -> str | None:
    """Say on the product page why the line refused the request at the door (None: not ours to say)."""
    details = refused.details
    if refused.code == "limit_exceeded":
        return _("At most %(max)s of this item fit in one cart.", max=details["max_per_cart"])
    if refused.code == "unknown_uom":
        return _("This item is not sold in that unit.")
    if refused.code == "customer_limit_exceeded":
        return _(
            "At most %(max)s of this item per shopper, across all your carts; "
            "%(has)s are already yours or in line for you.",
            max=details["max_per_customer"],
            has=details["customer_has"],
        )
    return None


@bp.post("/p/<sku>")
@html_errors
@limiter.limit(cart_limit)
def add_to_cart(sku: str) -> Response:
    sku, qty = form_line(sku, minimum=1, default="1")
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
        text = _refusal_text(refused)
        if text is None:
            raise
        return _product_page(sku, 422, text)
    return to_wait(adm)
