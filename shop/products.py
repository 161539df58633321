"""Setting up a sale: creating products and changing their details (stock goes through the line)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from shop.errors import BadRequest, Unprocessable
from shop.inventory import sku_lane
from shop.ledger import insert_ignoring_conflicts, record_creation
from shop.models import Product, SkuFence, utcnow

TEXT_FIELDS = {"name": 200, "category": 64, "description": 4000, "image": 300}
INT_FIELDS = {"price": (0, 10**12), "max_per_cart": (1, 1000), "on_hand": (0, 10**7)}
# Whole numbers that may also be null (no limit).
NULLABLE_INT_FIELDS = {"max_per_customer": (1, 1000)}
# Moments, as ISO 8601 text with a time zone, or null.
TIME_FIELDS = ("sale_starts_at",)


@dataclass(frozen=True)
class ProductChange:
    """A validated product body: which fields to set, and the wanted on-hand figure if any."""

    fields: dict[str, Any]
    on_hand: int | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ProductChange:
        unknown = set(body) - set(TEXT_FIELDS) - set(INT_FIELDS) - set(NULLABLE_INT_FIELDS) - set(TIME_FIELDS)
        if unknown:
            raise BadRequest(f"Unknown fields: {', '.join(sorted(unknown))}.", code="unknown_fields")
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
                    raise Unprocessable(
                        f"{name} must be a non-empty text of at most {limit} characters.",
                        code=f"invalid_{name}",
                    )
                fields[name] = value.strip() if name != "description" else value
        for name, (low, high) in INT_FIELDS.items():
            if name in body:
                value = body[name]
                if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                    raise Unprocessable(
                        f"{name} must be a whole number from {low} to {high}.", code=f"invalid_{name}"
                    )
                fields[name] = value
        for name, (low, high) in NULLABLE_INT_FIELDS.items():
            if name in body:
                value = body[name]
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
                ):
                    raise Unprocessable(
                        f"{name} must be null or a whole number from {low} to {high}.", code=f"invalid_{name}"
                    )
                fields[name] = value
        for name in TIME_FIELDS:
            if name in body:
                fields[name] = _moment(name, body[name])
        if "category" in fields:
            fields["category"] = fields["category"].lower()
        on_hand = fields.pop("on_hand", None)
        return cls(fields, on_hand)


def _moment(name: str, value: Any) -> str | None:
    """Accept null or an ISO 8601 moment with a time zone; keep it as UTC ISO text (JSON-safe)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) and len(value) <= 40 else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Unprocessable(
            f"{name} must be null or an ISO 8601 time with a time zone, e.g. 2026-11-11T12:00:00+07:00.",
            code=f"invalid_{name}",
        )
    return moment.astimezone(UTC).isoformat()


def field_value(name: str, value: Any) -> Any:
    """Turn a validated field into the column's value (moments travel as ISO text)."""
    if name in TIME_FIELDS and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


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
                raise Unprocessable(
                    f"A new product needs {', '.join(missing)}.", code="missing_fields", missing=missing
                )
            product = Product(
                sku=sku,
                on_hand=change.on_hand or 0,
                reserved=0,
                sales=0,
                created_at=utcnow(),
                **{
                    "description": "",
                    "image": "",
                    "max_per_cart": 5,
                    **{name: field_value(name, value) for name, value in change.fields.items()},
                },
            )
            session.add(product)
            session.flush()
            record_creation(session, sku, product.on_hand)
            insert_ignoring_conflicts(session, SkuFence, [{"lane": sku_lane(sku), "token": 0}])
            return product, True
        for name, value in change.fields.items():
            setattr(product, name, field_value(name, value))
    return product, False
