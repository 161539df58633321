"""Setting up a sale: creating products and changing their details (stock goes through the line)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from shop.domain.errors import Invalid
from shop.domain.ledger import insert_ignoring_conflicts, record_creation
from shop.domain.locations import DEFAULT_LOCATION
from shop.domain.requests import sku_lane
from shop.domain.stock import location_row, movement_row, record_movements
from shop.storage.models import BASE_UOM, DocType, Product, ProductUom, SkuFence, StockLocation, utcnow

# Moments, as ISO 8601 text with a time zone, or null.
TIME_FIELDS = ("sale_starts_at", "sale_ends_at")
# Unit and location codes: short lower-case words (units) and upper-case codes (locations).
UOM_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")
LOCATION_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,19}$")


def valid_uom(raw: Any, name: str = "uom") -> str:
    """Accept a unit code such as pcs, box or pack-6."""
    if not isinstance(raw, str) or not UOM_PATTERN.fullmatch(raw):
        raise Invalid(
            f"{name} must be a unit code: a lower-case letter, then up to 19 letters, digits, _ or -.",
            code=f"invalid_{name}",
        )
    return raw


def valid_location(raw: Any) -> str:
    """Accept a location code such as JKT, SBY or MAIN."""
    if not isinstance(raw, str) or not LOCATION_PATTERN.fullmatch(raw):
        raise Invalid(
            "location must be a location code: up to 20 upper-case letters, digits, _ or -.",
            code="invalid_location",
        )
    return raw


@dataclass(frozen=True)
class ProductChange:
    """A product change, already valid (``shop.web.schemas.products`` checks an operator's body):
    which fields to set, and the wanted on-hand figure if any."""

    fields: dict[str, Any]
    on_hand: int | None
    # The extra units to have from now on (None: leave them), and where on_hand is counted.
    uoms: list[tuple[str, int]] | None = None
    location: str | None = None


def field_value(name: str, value: Any) -> Any:
    """Turn a validated field into the column's value (moments travel as ISO text)."""
    if name in TIME_FIELDS and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def apply_fields(product: Product, fields: dict[str, Any]) -> None:
    """Set product details; a price alone above the normal price raises the normal price with it.

    (A flash price is a price below the normal one: setting only ``price`` higher ends the discount,
    setting only ``normal_price`` lower brings the flash price down with it.)
    """
    for name, value in fields.items():
        setattr(product, name, field_value(name, value))
    if product.price > product.normal_price:
        if "normal_price" in fields:
            product.price = product.normal_price
        else:
            product.normal_price = product.price


def set_uoms(session: Session, product: Product, uoms: list[tuple[str, int]]) -> None:
    """Make the product's extra units exactly ``uoms`` (the base unit is never one of them)."""
    if product.base_uom in {u for u, _c in uoms}:
        raise Invalid("An extra unit cannot be the base unit.", code="invalid_uoms")
    session.execute(delete(ProductUom).where(ProductUom.sku == product.sku))
    now = utcnow()
    for uom, conversion in uoms:
        session.add(
            ProductUom(sku=product.sku, uom=uom, conversion=conversion, created_at=now, updated_at=now)
        )
    session.flush()
    session.expire(product, ["uoms"])


def create_or_update_product(session: Session, sku: str, change: ProductChange) -> tuple[Product, bool]:
    """Create the product (with its stock) or update its details; return it and whether it is new.

    An existing product's stock is not changed here: that goes through the SKU's line so it keeps
    order with holds and can never drop below what is reserved.
    """
    with session.begin():
        product = session.get(Product, sku, with_for_update=True)
        if product is None:
            missing = [f for f in ("name", "category", "price") if f not in change.fields]
            if missing:
                raise Invalid(
                    f"A new product needs {', '.join(missing)}.", code="missing_fields", missing=missing
                )
            now = utcnow()
            fields = dict(change.fields)
            fields.setdefault("normal_price", fields["price"])
            if fields["price"] > fields["normal_price"]:
                raise Invalid("price (the flash price) cannot exceed normal_price.", code="invalid_price")
            on_hand = change.on_hand or 0
            product = Product(
                sku=sku,
                on_hand=on_hand,
                reserved=0,
                allocated=0,
                sales=0,
                created_at=now,
                updated_at=now,
                **{
                    "description": "",
                    "image": "",
                    "max_per_cart": 5,
                    "base_uom": BASE_UOM,
                    **{name: field_value(name, value) for name, value in fields.items()},
                },
            )
            session.add(product)
            session.flush()
            code = change.location or DEFAULT_LOCATION
            session.add(StockLocation(**location_row(sku, code, 0, on_hand, now)))
            if on_hand:
                record_movements(
                    session, [movement_row(sku, code, on_hand, DocType.GOODS_RECEIPT, "INITIAL", now)]
                )
            if change.uoms:
                set_uoms(session, product, change.uoms)
            record_creation(session, sku, product.on_hand)
            insert_ignoring_conflicts(session, SkuFence, [{"lane": sku_lane(sku), "token": 0}])
            session.flush()
            session.refresh(product, ["uoms", "locations", "overdue_units"])
            return product, True
        apply_fields(product, change.fields)
        if change.uoms is not None:
            set_uoms(session, product, change.uoms)
        session.flush()
        session.refresh(product, ["uoms", "locations", "overdue_units"])
    return product, False
