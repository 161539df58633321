"""The building blocks of the API's schemas: shared field types, refusals, parsing and serialising.

A request model declares each field's type and constraints once: pydantic validates them and the
OpenAPI document is generated from them. What the client sees when a field is refused is the
field's ``Refuse`` (its code and message, the same as before the models existed), never
pydantic's own wording: ``parse`` turns the first failing field, in the order the fields are
declared, into that refusal. A check that needs more than the field's own value raises a
``Refusal`` from a validator, which ``parse`` passes on as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import ErrorDetails

from shop.domain.carts import TOKEN_PATTERN
from shop.domain.errors import Malformed, ShopError
from shop.domain.order_numbers import ORDER_NO_PATTERN
from shop.domain.products import LOCATION_PATTERN, UOM_PATTERN

log = logging.getLogger(__name__)

# A SKU as a path or a body names it: anything else cannot name a product.
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
JOB_ID_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"
ORDER_ID_PATTERN = r"^ord_[0-9a-f]{24}$"
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,100}$"
MAX_QTY = 1000


def schema_only(**schema: Any) -> Any:
    """Document constraints that a later, ordered check enforces (so the refusal keeps its place)."""
    return Field(json_schema_extra=schema)


def absent(**field: Any) -> Any:
    """An optional field that is simply left out when not sent (its default is not a value)."""
    return Field(default=None, **field)


Count = Annotated[StrictInt, Field(ge=0)]
Positive = Annotated[StrictInt, Field(ge=1)]
Percent = Annotated[StrictInt, Field(ge=0, le=100)]
Money = Annotated[StrictInt, Field(ge=0, description="Whole Rupiah.")]
Number = Annotated[StrictInt | StrictFloat, WithJsonSchema({"type": "number", "minimum": 0})]
Text = StrictStr
Moment = Annotated[StrictStr, schema_only(format="date-time")]
Sku = Annotated[StrictStr, Field(pattern=SKU_PATTERN, examples=["FLASH-PHONE-01"])]
Uom = Annotated[StrictStr, Field(pattern=UOM_PATTERN.pattern, examples=["pcs", "box"])]
Location = Annotated[StrictStr, Field(pattern=LOCATION_PATTERN.pattern, examples=["JKT", "SBY"])]
OrderNo = Annotated[StrictStr, Field(pattern=ORDER_NO_PATTERN, examples=["KL-20261201-000123"])]
OrderId = Annotated[StrictStr, Field(pattern=ORDER_ID_PATTERN)]
JobId = Annotated[StrictStr, Field(pattern=JOB_ID_PATTERN)]
CartToken = Annotated[StrictStr, Field(pattern=TOKEN_PATTERN.pattern)]
IdempotencyKey = Annotated[StrictStr, Field(pattern=IDEMPOTENCY_KEY_PATTERN)]


class Refusal(ValueError):
    """A validator's refusal of a field, carrying the ShopError the client gets."""

    def __init__(self, error: ShopError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class Refuse:
    """The refusal of a field that fails its type or constraints: ``make(raw value, its errors)``."""

    make: Callable[[Any, list[ErrorDetails]], ShopError]


def refuse(kind: type[ShopError], message: str, **details: Any) -> Refuse:
    """A fixed refusal: always this error, whatever the field's value was."""
    return Refuse(lambda _raw, _errors: kind(message, **details))


class Response(BaseModel):
    """An answer of the API: exactly these properties, each of exactly its type."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Request(BaseModel):
    """A request body or query: its fields are checked in order, each with its own refusal."""

    model_config = ConfigDict(extra="ignore", strict=True)
    _refusals: ClassVar[dict[str, Refuse]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._refusals = {
            info.alias or name: next(m for m in info.metadata if isinstance(m, Refuse))
            for name, info in cls.model_fields.items()
            if any(isinstance(m, Refuse) for m in info.metadata)
        }

    @classmethod
    def precede(cls, raw: dict[str, Any], field: str) -> ShopError | None:
        """The refusal of a check spanning several fields that comes before ``field``'s own (none here)."""
        return None


M = TypeVar("M", bound=Request)


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Validate ``data`` as ``model``, refusing it as the first failing field's refusal says."""
    try:
        return model.model_validate(data)
    except ValidationError as invalid:
        raise _refusal(model, data, invalid.errors()) from None


def _refusal(model: type[Request], data: dict[str, Any], errors: list[ErrorDetails]) -> ShopError:
    unknown = sorted(
        str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1
    )
    if unknown:
        return Malformed(f"Unknown fields: {', '.join(unknown)}.", code="unknown_fields")
    first = errors[0]
    cause = first.get("ctx", {}).get("error")
    field = str(first["loc"][0]) if first["loc"] else ""  # "": a check of the whole model
    earlier = model.precede(data, field)
    if earlier is not None:
        return earlier
    if isinstance(cause, Refusal):
        return cause.error
    refusal = model._refusals.get(field)
    if refusal is None:  # a field without a refusal of its own: still never pydantic's wording
        return Malformed(f"{field} is not valid.", code=f"invalid_{field}")
    return refusal.make(data.get(field), [e for e in errors if e["loc"][:1] == (field,)])


T = TypeVar("T")


class Checked(Generic[T]):
    """One value checked against a field type, outside a model (a path or header parameter)."""

    def __init__(self, kind: Any, refusal: Refuse) -> None:
        self.adapter: TypeAdapter[T] = TypeAdapter(kind)
        self.refusal = refusal

    def check(self, raw: Any) -> T:
        try:
            return self.adapter.validate_python(raw)
        except ValidationError as invalid:
            errors = invalid.errors()
            cause = errors[0].get("ctx", {}).get("error")
            raise (cause.error if isinstance(cause, Refusal) else self.refusal.make(raw, errors)) from None

    def json_schema(self) -> dict[str, Any]:
        return self.adapter.json_schema(schema_generator=DocumentSchema)


def serialise(model: type[Response], data: Any, strict: bool) -> Any:
    """Give an answer as its model's JSON data, keys absent in ``data`` left out.

    An answer its model refuses is a fault of the model (the document would be wrong about it), not
    of the client: ``strict`` (tests) raises it; otherwise it is logged and the answer goes out as it
    was built, so a shopper never gets a 500 for it.
    """
    try:
        return model.model_validate(data).model_dump(mode="json", exclude_unset=True)
    except ValidationError as mismatch:
        if strict:
            raise
        log.error("answer does not fit %s: %s", model.__name__, mismatch.errors(include_url=False))
        return data


class DocumentSchema(GenerateJsonSchema):
    """JSON Schema for the OpenAPI document: models keep their titles, fields need none."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def get_default_value(self, schema: Any) -> Any:
        """A field left out when not sent has no default to show (None is not its value)."""
        default = super().get_default_value(schema)
        return NoDefault if default is None else default
