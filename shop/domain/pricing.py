"""Flash prices: what a shopper pays now, the discount against the normal price, and line amounts.

A product has a ``normal_price`` and a ``price`` (the flash price). The flash price applies until
``sale_ends_at`` (if set); after it shoppers pay the normal price again. A hold fixes both prices
when it is taken, so a shopper who held at the flash price pays it even if the sale ends meanwhile.
Money is whole Rupiah; the discount percent is whole too (rounded down, never overstated).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, literal, literal_column, update
from sqlalchemy.orm import Session

from shop.storage.models import FLASH_DISCOUNT, Product


@dataclass(frozen=True)
class LineAmounts:
    """An order line's amounts: the normal price per unit, the discount, and what is paid."""

    unit_price: int
    disc_pct: int
    disc_amt: int
    net_amt: int


def current_price(product: Product, now: datetime) -> int:
    """Return the price a shopper pays for one base unit at ``now``."""
    if product.sale_ends_at is not None and product.sale_ends_at <= now:
        return product.normal_price
    return product.price


def discount_pct(normal_price: int, price: int) -> int:
    """Return the whole-percent discount of ``price`` against ``normal_price`` (0 without one)."""
    if normal_price <= 0 or price >= normal_price:
        return 0
    return (normal_price - price) * 100 // normal_price


def line_amounts(qty: int, normal_price: int, price: int) -> LineAmounts:
    """Compute a line of ``qty`` base units at the prices its hold fixed."""
    gross = qty * normal_price
    net = qty * price
    return LineAmounts(normal_price, discount_pct(normal_price, price), gross - net, net)


def sale_ended(now: datetime) -> ColumnElement[bool]:
    """SQL: the product's flash price has ended by ``now`` (``current_price`` charges normal_price)."""
    return and_(
        Product.sale_ends_at.is_not(None), Product.sale_ends_at <= literal(now, Product.sale_ends_at.type)
    )


def price_column(now: datetime) -> ColumnElement[int]:
    """The current price as SQL: what ``current_price`` returns, for sorting by what shoppers pay now."""
    return case((sale_ended(now), Product.normal_price), else_=Product.price)


def discount_column(now: datetime) -> ColumnElement[int]:
    """The current discount as SQL, in per mille (so ties between whole percents still order)."""
    return case((sale_ended(now), literal_column("0")), else_=FLASH_DISCOUNT)


def end_flash_prices(session: Session, now: datetime) -> int:
    """Make every flash price whose sale has ended the normal price again, for good; return how many.

    ``current_price`` already charges the normal price from ``sale_ends_at`` on; this makes the
    stored row say so too, so the catalog's price and discount sorts read one index in order
    instead of sorting ever more ended sales by the moment (shop/domain/sort_keys.py). Holds keep the
    prices they were taken at. The sweeper runs it; the caller commits.
    """
    ended = session.execute(
        update(Product)
        .where(sale_ended(now))
        .values(price=Product.normal_price, sale_ends_at=None, updated_at=now)
    )
    return ended.rowcount or 0
