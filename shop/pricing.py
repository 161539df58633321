"""Flash prices: what a shopper pays now, the discount against the normal price, and line amounts.

A product has a ``normal_price`` and a ``price`` (the flash price). The flash price applies until
``sale_ends_at`` (if set); after it shoppers pay the normal price again. A hold fixes both prices
when it is taken, so a shopper who held at the flash price pays it even if the sale ends meanwhile.
Money is whole Rupiah; the discount percent is whole too (rounded down, never overstated).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, literal, or_

from shop.models import Product


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


def price_column(now: datetime) -> ColumnElement[int]:
    """The current price as SQL, for sorting the catalog by what shoppers pay now."""
    ended = and_(
        Product.sale_ends_at.is_not(None), Product.sale_ends_at <= literal(now, Product.sale_ends_at.type)
    )
    return case((ended, Product.normal_price), else_=Product.price)


def discount_column(now: datetime) -> ColumnElement[int]:
    """The current discount as SQL (per mille, so ties between whole percents still order)."""
    price = price_column(now)
    return case(
        (or_(Product.normal_price <= 0, price >= Product.normal_price), 0),
        else_=(Product.normal_price - price) * 1000 / Product.normal_price,
    )
