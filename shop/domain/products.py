"""Setting up a sale: creating products and changing their details (stock goes through the line)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from shop.domain.errors import Invalid, Malformed
from shop.domain.ledger import insert_ignoring_conflicts, record_creation
from shop.domain.locations import DEFAULT_LOCATION
from shop.domain.requests import sku_lane
from shop.domain.stock import movement_row, record_movements
from shop.storage.models import BASE_UOM, DocType, Product, ProductUom, SkuFence, StockLocation, utcnow

TEXT_FIELDS = {"name": 200, "category": 64, "description": 4000, "image": 300}
INT_FIELDS = {
    "price": (0, 10**12),
    "normal_price": (0, 10**12),
    "max_per_cart": (1, 1000),
    "on_hand": (0, 10**7),
}
# Whole numbers that may also be null (no limit).
NULLABLE_INT_FIELDS = {"max_per_customer": (1, 1000)}
# Moments, as ISO 8601 text with a time zone, or null.
TIME_FIELDS = ("sale_starts_at", "sale_ends_at")
# Unit and location codes: short lower-case words (units) and upper-case codes (locations).
UOM_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,19}$")
LOCATION_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,19}$")
MAX_CONVERSION = 100_000
MAX_UOMS = 10
OTHER_FIELDS = {"base_uom", "uoms", "location"}


def valid_uom(raw: Any, name: str = "uom") -> str:
    """Accept a unit code such as pcs, box or pack-6."""
    if not isinstance(raw, str) or not UOM_PATTERN.match(raw):
        raise Invalid(
            f"{name} must be a unit code: a lower-case letter, then up to 19 letters, digits, _ or -.",
            code=f"invalid_{name}",
        )
    return raw


def valid_location(raw: Any) -> str:
    """Accept a location code such as JKT, SBY or MAIN."""
    if not isinstance(raw, str) or not LOCATION_PATTERN.match(raw):
        raise Invalid(
            "location must be a location code: up to 20 upper-case letters, digits, _ or -.",
            code="invalid_location",
        )
    return raw


def _uoms(raw: Any) -> list[tuple[str, int]]:
    """Accept [{"uom": "box", "conversion": 12}, ...]: distinct units of 2 or more base units each."""
    if not isinstance(raw, list) or len(raw) > MAX_UOMS:
        raise Invalid(f"uoms must be a list of at most {MAX_UOMS} units.", code="invalid_uoms")
    units: list[tuple[str, int]] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"uom", "conversion"}:
            raise Invalid('Each unit is {"uom": ..., "conversion": ...}.', code="invalid_uoms")
        uom = valid_uom(item["uom"])
        conversion = item["conversion"]
        if (
            isinstance(conversion, bool)
            or not isinstance(conversion, int)
            or not 2 <= conversion <= MAX_CONVERSION
        ):
            raise Invalid(
                f"conversion must be a whole number of base units from 2 to {MAX_CONVERSION}.",
                code="invalid_uoms",
            )
        if uom in {u for u, _c in units}:
            raise Invalid(f"The unit {uom!r} is listed twice.", code="invalid_uoms")
        units.append((uom, conversion))
    return units


@dataclass(frozen=True)
class ProductChange:
    """A validated product body: which fields to set, and the wanted on-hand figure if any."""

    fields: dict[str, Any]
    on_hand: int | None
    # The extra units to have from now on (None: leave them), and where on_hand is counted.
    uoms: list[tuple[str, int]] | None = None
    location: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ProductChange:
        known = (
            set(TEXT_FIELDS) | set(INT_FIELDS) | set(NULLABLE_INT_FIELDS) | set(TIME_FIELDS) | OTHER_FIELDS
        )
        unknown = set(body) - known
        if unknown:
            raise Malformed(f"Unknown fields: {', '.join(sorted(unknown))}.", code="unknown_fields")
        fields: dict[str, Any] = {}
        for name, limit in TEXT_FIELDS.items():
            if name in body:
                value = body[name]
                if (
                    not isinstance(value, str)
                    or len(value) > limit
                    or "\x00" in value
                    or (name in ("name", "category") and not value.strip())
                ):
                    raise Invalid(
                        f"{name} must be a non-empty text of at most {limit} characters.",
                        code=f"invalid_{name}",
                    )
                fields[name] = value.strip() if name != "description" else value
        for name, (low, high) in INT_FIELDS.items():
            if name in body:
                value = body[name]
                if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                    raise Invalid(
                        f"{name} must be a whole number from {low} to {high}.", code=f"invalid_{name}"
                    )
                fields[name] = value
        for name, (low, high) in NULLABLE_INT_FIELDS.items():
            if name in body:
                value = body[name]
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
                ):
                    raise Invalid(
                        f"{name} must be null or a whole number from {low} to {high}.", code=f"invalid_{name}"
                    )
                fields[name] = value
        for name in TIME_FIELDS:
            if name in body:
                fields[name] = _moment(name, body[name])
        if "category" in fields:
            fields["category"] = fields["category"].lower()
        if "base_uom" in body:
            fields["base_uom"] = valid_uom(body["base_uom"], "base_uom")
        if "price" in fields and "normal_price" in fields and fields["price"] > fields["normal_price"]:
            raise Invalid("price (the flash price) cannot exceed normal_price.", code="invalid_price")
        uoms = _uoms(body["uoms"]) if "uoms" in body else None
        if uoms and fields.get("base_uom", BASE_UOM) in {u for u, _c in uoms}:
            raise Invalid("An extra unit cannot be the base unit.", code="invalid_uoms")
        location = valid_location(body["location"]) if "location" in body else None
        on_hand = fields.pop("on_hand", None)
        return cls(fields, on_hand, uoms, location)


def _moment(name: str, value: Any) -> str | None:
    """Accept null or an ISO 8601 moment with a time zone; keep it as UTC ISO text (JSON-safe)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) and len(value) <= 40 else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Invalid(
            f"{name} must be null or an ISO 8601 time with a time zone, e.g. 2026-11-11T12:00:00+07:00.",
            code=f"invalid_{name}",
        )
    return moment.astimezone(UTC).isoformat()


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
            session.add(
                StockLocation(
                    sku=sku,
                    location_code=code,
                    priority=0,
                    on_hand=on_hand,
                    reserved=0,
                    allocated=0,
                    created_at=now,
                    updated_at=now,
                )
            )
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
