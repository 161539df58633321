"""The read side: list and find products with the stock a shopper can still put in a cart."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from shop.errors import BadRequest, NotFound
from shop.models import Product, utcnow
from shop.pricing import current_price, discount_column, discount_pct, price_column

# Sorts whose value depends on the moment (a flash price ends) are built per query.
SORT_COLUMNS: dict[str, Any] = {
    "sales": Product.sales,
    "price": price_column,
    "discount": discount_column,
    "name": Product.name,
    # A hold past its expiry holds nothing (see Product.available).
    "available": Product.on_hand - Product.reserved - Product.allocated + Product.overdue_units,
    "newest": Product.created_at,
}
MAX_LIMIT = 100
MAX_SEARCH_LENGTH = 100


@dataclass(frozen=True)
class CatalogQuery:
    """A validated catalog query, shared by the JSON API and the storefront pages."""

    page: int = 1
    limit: int = 10
    sort_by: str = "sales"
    sort_dir: str = "desc"
    category: str | None = None
    search: str | None = None

    @classmethod
    def from_args(cls, args: Any) -> CatalogQuery:
        """Parse query-string arguments, refusing anything out of range with a clear message."""
        page = _positive_int(args.get("page", "1"), "page", maximum=1_000_000)
        limit = _positive_int(args.get("limit", "10"), "limit", maximum=MAX_LIMIT)
        sort_by = args.get("sortBy", "sales")
        if sort_by not in SORT_COLUMNS:
            raise BadRequest(
                f"sortBy must be one of {', '.join(SORT_COLUMNS)}.", code="invalid_sort", sortBy=sort_by
            )
        sort_dir = args.get(
            "sortDir", "desc" if sort_by in ("sales", "newest", "discount") else "asc"
        ).lower()
        if sort_dir not in ("asc", "desc"):
            raise BadRequest("sortDir must be asc or desc.", code="invalid_sort_dir")
        category = (args.get("category") or "").strip() or None
        search = (args.get("search") or "").strip() or None
        if "\x00" in (search or "") + (category or ""):
            raise BadRequest("search and category cannot contain NUL characters.", code="invalid_text")
        if search and len(search) > MAX_SEARCH_LENGTH:
            raise BadRequest(f"search is limited to {MAX_SEARCH_LENGTH} characters.", code="search_too_long")
        if category and len(category) > 64:
            raise BadRequest("category is limited to 64 characters.", code="invalid_category")
        return cls(page, limit, sort_by, sort_dir, category, search)


def _positive_int(raw: str, name: str, maximum: int) -> int:
    if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{1,9}", raw):
        raise BadRequest(f"{name} must be a whole number.", code=f"invalid_{name}")
    value = int(raw)
    if not 1 <= value <= maximum:
        raise BadRequest(f"{name} must be between 1 and {maximum}.", code=f"invalid_{name}")
    return value


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: CatalogQuery) -> Select[tuple[Product]]:
    stmt = select(Product)
    if query.category:
        stmt = stmt.where(func.lower(Product.category) == query.category.lower())
    if query.search:
        pattern = f"%{_escape_like(query.search.lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(Product.name).like(pattern, escape="\\"),
                func.lower(Product.description).like(pattern, escape="\\"),
            )
        )
    return stmt


def list_products(session: Session, query: CatalogQuery) -> dict[str, Any]:
    """Return one page of products matching the query, with paging figures."""
    stmt = _filtered(query)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    now = utcnow()
    column = SORT_COLUMNS[query.sort_by]
    if callable(column):
        column = column(now)
    order = column.desc() if query.sort_dir == "desc" else column.asc()
    rows = session.scalars(
        stmt.order_by(order, Product.sku).offset((query.page - 1) * query.limit).limit(query.limit)
    ).all()
    return {
        "items": [product_view(p, now) for p in rows],
        "page": query.page,
        "limit": query.limit,
        "total": total,
        "pages": (total + query.limit - 1) // query.limit,
    }


def find_product(session: Session, sku: str) -> Product:
    """Return the product with this SKU or raise NotFound."""
    product = None if "\x00" in sku else session.get(Product, sku)
    if product is None:
        raise NotFound(f"No product with SKU {sku!r}.", code="unknown_sku")
    return product


def categories(session: Session) -> list[str]:
    """Return the categories that have products, alphabetically."""
    return list(session.scalars(select(Product.category).distinct().order_by(Product.category)))


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
