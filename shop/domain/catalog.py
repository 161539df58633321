"""The read side: list and find products with the stock a shopper can still put in a cart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session, joinedload, lazyload

from shop.domain import cursors, search, sort_keys
from shop.domain.errors import NotFound
from shop.domain.pricing import current_price, discount_pct
from shop.storage.models import Product, utcnow

SORTS = ("sales", "price", "discount", "name", "available", "newest", "relevance")
DESCENDING_BY_DEFAULT = frozenset({"sales", "newest", "discount", "relevance"})
MAX_LIMIT = 100
MAX_SEARCH_LENGTH = 100
# Pages are counted by offset only this deep; beyond it a page is reached by its cursor.
MAX_OFFSET = 10_000
# Matches are counted exactly up to here; above it ``total`` says "at least this many".
COUNT_CAP = 10_000


@dataclass(frozen=True)
class CatalogQuery:
    """A catalog query, already valid (``shop.web.schemas.requests.catalog_query`` reads a query string),
    shared by the JSON API and the storefront pages.

    ``after`` is the last (sort key, sku) of the previous page when the query came by cursor: the
    page starts right after it in the sort's index, however deep it is.
    """

    page: int = 1
    limit: int = 10
    sort_by: str = "sales"
    sort_dir: str = "desc"
    category: str | None = None
    search: str | None = None
    after: tuple[Any, str] | None = None


def list_products(session: Session, query: CatalogQuery) -> dict[str, Any]:
    """Return one page of products matching the query, with paging figures and the next cursor.

    The page is read in the order of the sort's index, seeking past the cursor's key, so its cost
    does not grow with the catalog or the depth; ``total`` stops at ``COUNT_CAP`` (the database
    counts no further, except a search, which counts the matches it collected anyway). It takes
    one statement per part of the sort (the count rides along with the page's keys) and one for
    the products with their units: each is a round trip to the database.
    """
    now = utcnow()
    if query.search:
        search.prefer_text_index(session)
    keys = sort_keys.page_keys(session, page_parts(session, query, now), query)
    more = len(keys) > query.limit
    keys = keys[: query.limit]
    products = {p.sku: p for p in session.scalars(_page_products([k.sku for k in keys])).unique()}
    counted = _counted(session, query, keys)
    total = min(counted, COUNT_CAP)
    return {
        "items": [product_view(products[k.sku], now) for k in keys],
        "page": query.page,
        "limit": query.limit,
        "total": total,
        "total_is_lower_bound": counted > COUNT_CAP,
        "pages": (total + query.limit - 1) // query.limit,
        "next_cursor": cursors.encode(query, keys[-1]) if more else None,
    }


def _page_products(skus: list[str]) -> Select[Any]:
    """The page's products with their units in one statement; their stock locations only if asked for."""
    loading = (joinedload(Product.uoms), lazyload(Product.locations))
    return select(Product).where(Product.sku.in_(skus)).options(*loading)


def _counted(session: Session, query: CatalogQuery, keys: list[Any]) -> int:
    """The matches the page's keys counted as they were read, else a count of its own.

    Only the keys of the sort's main part carry the count: it takes a statement of its own when
    the page is empty or all of it is the few ended flash sales of a price or discount sort
    (``sort_keys.page_keys``).
    """
    counted = next((k for k in keys if sort_keys.MATCHED in k._fields), None)
    if counted is not None:
        return int(getattr(counted, sort_keys.MATCHED))
    return session.scalar(capped_count(_filtered(session, query)[0])) or 0


def capped_count(base: Select[Any]) -> Select[Any]:
    """How many rows ``base`` selects, counted no further than one past ``COUNT_CAP``."""
    return select(func.count()).select_from(base.limit(COUNT_CAP + 1).subquery())


def page_parts(
    session: Session, query: CatalogQuery, now: datetime, with_total: bool = True
) -> list[Select[Any]]:
    """The statements that read the query's page, one per part of its sort (``shop.domain.sort_keys``),
    the main part counting the query's products too unless ``with_total`` is false."""
    base, relevance = _filtered(session, query)
    few_base, _relevance = _filtered(session, query, category_leads=False)
    count = capped_count(base).scalar_subquery() if with_total else None
    return sort_keys.part_statements(base, few_base, query, now, relevance, count)


def _filtered(session: Session, query: CatalogQuery, category_leads: bool = True) -> tuple[Select[Any], Any]:
    """The products the query's category and search select, as (sku) rows, and their relevance.

    Unless ``category_leads``, the category is compared as an expression (``category || ''``),
    which offers a planner no index: the few ended flash sales are then read by their own index,
    not by reading every product of the category (SQLite has no statistics to tell).
    """
    stmt = select(Product.sku)
    if not query.search:
        if not query.category:
            return stmt, None
        if category_leads:
            return stmt.where(Product.category == query.category), None
        return stmt.where(search.unindexed(Product.category) == query.category), None
    stmt, relevance = search.apply(stmt, session, search.SearchTerms.parse(query.search))
    if query.category:
        stmt = search.also_where(stmt, session, Product.category, query.category)
    return stmt, relevance


def get_product(session: Session, sku: str) -> Product | None:
    """Return the product with this SKU, or None (a SKU with a NUL names none, on any database)."""
    return None if "\x00" in sku else session.get(Product, sku)


def find_product(session: Session, sku: str) -> Product:
    """Return the product with this SKU or raise NotFound."""
    product = get_product(session, sku)
    if product is None:
        raise NotFound(f"No product with SKU {sku!r}.", code="unknown_sku")
    return product


def products_by_sku(session: Session, skus: set[str]) -> dict[str, Product]:
    """Return the products with these SKUs in one query (their units and locations in one more each)."""
    if not skus:
        return {}
    return {row.sku: row for row in session.scalars(select(Product).where(Product.sku.in_(skus)))}


# A loose index scan: one seek per category in the (category, …) index, not a read of every product.
_CATEGORIES = text(
    "WITH RECURSIVE c(category) AS ("
    " SELECT min(category) FROM products"
    " UNION ALL"
    " SELECT (SELECT min(category) FROM products WHERE category > c.category) FROM c"
    " WHERE c.category IS NOT NULL"
    ") SELECT category FROM c WHERE category IS NOT NULL"
)


def categories(session: Session) -> list[str]:
    """Return the categories that have products, alphabetically."""
    return list(session.scalars(_CATEGORIES))


def uoms_view(product: Product) -> list[dict[str, Any]]:
    """The units a product is sold in, base unit first: [{"uom": "pcs", "conversion": 1}, ...]."""
    return [{"uom": product.base_uom, "conversion": 1}] + [
        {"uom": u.uom, "conversion": u.conversion} for u in product.uoms
    ]


def product_view(product: Product, now: datetime | None = None) -> dict[str, Any]:
    """Describe a product as the API shows it; ``available`` is what can be held right now."""
    price = current_price(product, now or utcnow())
    return {
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "price": price,
        "normal_price": product.normal_price,
        "discount_pct": discount_pct(product.normal_price, price),
        "currency": "IDR",
        "image": product.image,
        "available": product.available,
        "sales": product.sales,
        "max_per_cart": product.max_per_cart,
        "max_per_customer": product.max_per_customer,
        "sale_starts_at": product.sale_starts_at.isoformat() if product.sale_starts_at else None,
        "sale_ends_at": product.sale_ends_at.isoformat() if product.sale_ends_at else None,
        "base_uom": product.base_uom,
        "uoms": uoms_view(product),
    }


def stock_view(product: Product) -> list[dict[str, Any]]:
    """The product's stock per location, for operators (``available`` never negative)."""
    return [
        {
            "location": loc.location_code,
            "priority": loc.priority,
            "on_hand": loc.on_hand,
            "reserved": loc.reserved,
            "allocated": loc.allocated,
            "available": max(0, loc.free),
        }
        for loc in product.locations
    ]
