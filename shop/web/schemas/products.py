"""The operator's product body (``PUT /admin/products/<sku>``) as a model, and the change it stands for.

The domain receives a ``ProductChange`` that is already valid; what makes a body valid, and how it
is refused, is declared here once: field by field, in the order the checks always ran.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic import BaseModel as PydanticModel
from pydantic_core import ErrorDetails

from shop.domain.errors import Invalid, ShopError
from shop.domain.products import ProductChange, valid_location, valid_uom
from shop.storage.models import BASE_UOM
from shop.web.schemas.base import (
    Location,
    Refusal,
    Refuse,
    Request,
    Uom,
    absent,
    parse,
    refuse,
    schema_only,
)

MAX_CONVERSION = 100_000
MAX_UOMS = 10


def _raised(check: Any, *args: Any) -> ShopError:
    """The refusal a domain check gives (the codes' one definition), as a value."""
    try:
        check(*args)
    except ShopError as error:
        return error
    raise AssertionError(f"{check.__name__}{args!r} accepted what the schema refused")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("blank")
    return value.strip()


def _text(name: str, limit: int, blank_ok: bool = True, strip: bool = True) -> Any:
    checks = [AfterValidator(_no_nul)]
    if not blank_ok:
        checks.append(AfterValidator(_not_blank))
    elif strip:
        checks.append(AfterValidator(str.strip))
    if blank_ok:
        extra: dict[str, Any] = {}
    else:
        extra = {"pattern": r"\S", "description": "Not blank."}
    return Annotated[
        StrictStr,
        Field(max_length=limit),
        *checks,
        schema_only(**extra),
        refuse(
            Invalid,
            f"{name} must be a non-empty text of at most {limit} characters.",
            code=f"invalid_{name}",
        ),
    ]


def _whole(name: str, low: int, high: int) -> Any:
    return Annotated[
        StrictInt,
        Field(ge=low, le=high),
        refuse(Invalid, f"{name} must be a whole number from {low} to {high}.", code=f"invalid_{name}"),
    ]


def _moment(value: str | None) -> str | None:
    """Accept null or an ISO 8601 moment with a time zone; keep it as UTC ISO text (JSON-safe)."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if len(value) <= 40 else None
    if moment is None or moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment.astimezone(UTC).isoformat()


def _time(name: str) -> Any:
    return Annotated[
        StrictStr | None,
        AfterValidator(_moment),
        WithJsonSchema(
            {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "ISO 8601 with a time zone (2026-11-11T12:00:00+07:00).",
            }
        ),
        refuse(
            Invalid,
            f"{name} must be null or an ISO 8601 time with a time zone, e.g. 2026-11-11T12:00:00+07:00.",
            code=f"invalid_{name}",
        ),
    ]


class UnitRequest(PydanticModel):
    """One extra unit of a product: how many base units it holds."""

    model_config = ConfigDict(extra="forbid", strict=True)

    uom: Uom
    conversion: Annotated[StrictInt, Field(ge=2, le=MAX_CONVERSION)]


def _units_refusal(raw: Any, errors: list[ErrorDetails]) -> ShopError:
    """Refuse the first bad unit as the checks did, unit by unit: its shape, its code, its conversion."""
    if not isinstance(raw, list) or any(len(e["loc"]) == 1 for e in errors):
        return Invalid(f"uoms must be a list of at most {MAX_UOMS} units.", code="invalid_uoms")
    index = errors[0]["loc"][1]
    seen: set[str] = set()
    for item in raw[:index]:  # every unit before the bad one is well formed
        if item["uom"] in seen:
            return Invalid(f"The unit {item['uom']!r} is listed twice.", code="invalid_uoms")
        seen.add(item["uom"])
    here = [e for e in errors if e["loc"][1] == index]
    if any(len(e["loc"]) == 2 or e["type"] in ("missing", "extra_forbidden") for e in here):
        return Invalid('Each unit is {"uom": ..., "conversion": ...}.', code="invalid_uoms")
    if here[0]["loc"][2] == "uom":
        return _raised(valid_uom, raw[index]["uom"])
    return Invalid(
        f"conversion must be a whole number of base units from 2 to {MAX_CONVERSION}.", code="invalid_uoms"
    )


# The fields a change sets on the product itself (``uoms`` and ``location`` are not columns).
DETAIL_FIELDS = (
    *("name", "category", "description", "image"),
    *("price", "normal_price", "max_per_cart", "on_hand", "max_per_customer"),
    *("sale_starts_at", "sale_ends_at", "base_uom"),
)
PRICE_CEILING = 10**12


class ProductRequest(Request):
    """A new product needs name, category and price; an existing one changes only the fields given.
    `on_hand` of an existing product goes through the SKU's line."""

    model_config = ConfigDict(extra="forbid")

    name: _text("name", 200, blank_ok=False) = absent()
    category: _text("category", 64, blank_ok=False) = absent()
    description: _text("description", 4000, strip=False) = absent()
    image: _text("image", 300) = absent()
    price: _whole("price", 0, PRICE_CEILING) = absent()
    normal_price: _whole("normal_price", 0, PRICE_CEILING) = absent()
    max_per_cart: _whole("max_per_cart", 1, 1000) = absent()
    on_hand: _whole("on_hand", 0, 10**7) = absent()
    max_per_customer: Annotated[
        Annotated[StrictInt, Field(ge=1, le=1000)] | None,
        refuse(
            Invalid,
            "max_per_customer must be null or a whole number from 1 to 1000.",
            code="invalid_max_per_customer",
        ),
    ] = absent()
    sale_starts_at: _time("sale_starts_at") = absent()
    sale_ends_at: _time("sale_ends_at") = absent()
    base_uom: Annotated[Uom, Refuse(lambda raw, _e: _raised(valid_uom, raw, "base_uom"))] = absent()
    uoms: Annotated[
        list[UnitRequest],
        Field(
            max_length=MAX_UOMS,
            description="The extra units, replacing the product's (the base unit is implied).",
        ),
        Refuse(_units_refusal),
    ] = absent()
    location: Annotated[
        Location,
        Field(description="Where `on_hand` is counted (default: MAIN, or the SKU's first location)."),
        Refuse(lambda raw, _e: _raised(valid_location, raw)),
    ] = absent()

    @field_validator("uoms", mode="after")
    @classmethod
    def _distinct_units(cls, units: list[UnitRequest], info: ValidationInfo) -> list[UnitRequest]:
        seen: set[str] = set()
        for unit in units:
            if unit.uom in seen:
                raise Refusal(Invalid(f"The unit {unit.uom!r} is listed twice.", code="invalid_uoms"))
            seen.add(unit.uom)
        if units and (info.data.get("base_uom") or BASE_UOM) in seen:
            raise Refusal(Invalid("An extra unit cannot be the base unit.", code="invalid_uoms"))
        return units

    @classmethod
    def precede(cls, raw: dict[str, Any], field: str) -> ShopError | None:
        """The price check runs after the product's own fields, before its units and location."""
        return (
            _price_refusal(raw.get("price"), raw.get("normal_price"))
            if field in ("uoms", "location")
            else None
        )

    def change(self) -> ProductChange:
        """The validated change the domain applies."""
        given = self.model_fields_set
        fields = {name: getattr(self, name) for name in DETAIL_FIELDS if name in given}
        if "category" in fields:
            fields["category"] = fields["category"].lower()
        refusal = _price_refusal(fields.get("price"), fields.get("normal_price"))
        if refusal is not None:
            raise refusal
        on_hand = fields.pop("on_hand", None)
        uoms = (
            [(u.uom, u.conversion) for u in self.uoms] if "uoms" in given and self.uoms is not None else None
        )
        return ProductChange(fields, on_hand, uoms, self.location)


def _price_refusal(price: Any, normal_price: Any) -> ShopError | None:
    if isinstance(price, int) and isinstance(normal_price, int) and price > normal_price:
        return Invalid("price (the flash price) cannot exceed normal_price.", code="invalid_price")
    return None


def product_change(body: dict[str, Any]) -> ProductChange:
    """Validate an operator's product body into the change the domain applies."""
    return parse(ProductRequest, body).change()
