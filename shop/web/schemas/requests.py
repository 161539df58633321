"""What the API accepts: request bodies, the catalog's query and single parameters, as typed models.

Fields are declared in the order they were always checked, so a request with several faults is
refused for the same one as before; each field's ``Refuse`` is the code and message it always had.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from shop.domain import cursors
from shop.domain.catalog import DESCENDING_BY_DEFAULT, MAX_LIMIT, MAX_OFFSET, MAX_SEARCH_LENGTH, SORTS
from shop.domain.catalog import CatalogQuery as DomainCatalogQuery
from shop.domain.errors import Invalid, Malformed, NotFound, ShopError, UnknownSku
from shop.domain.gateway import luhn_valid
from shop.domain.orders import MAX_NOTES
from shop.domain.products import LOCATION_PATTERN, UOM_PATTERN
from shop.lanes.admission import UNKNOWN_JOB_MESSAGE
from shop.lanes.fulfilment import MAX_DOC_REF, MAX_RECEIPT_QTY
from shop.web import board_paging as board
from shop.web.schemas.base import (
    MAX_QTY,
    ORDER_ID_PATTERN,
    Checked,
    IdempotencyKey,
    JobId,
    OrderNo,
    Refusal,
    Refuse,
    Request,
    Sku,
    Uom,
    absent,
    parse,
    refuse,
    schema_only,
)
from shop.web.schemas.products import ProductRequest, UnitRequest, product_change

__all__ = [
    "CartRequest",
    "CatalogArgs",
    "CheckoutRequest",
    "GoodsReceiptRequest",
    "PaymentRequest",
    "ProductRequest",
    "UnitRequest",
    "catalog_query",
    "product_change",
]


def _sku_refusal(raw: Any, _errors: list[ErrorDetails]) -> ShopError:
    if not isinstance(raw, str) or not raw:
        return Malformed("sku is required and must be a string.", code="invalid_sku")
    return UnknownSku(raw[:80])


def _qty_refusal(minimum: int) -> Refuse:
    return refuse(
        Invalid,
        f"qty must be a whole number from {minimum} to {MAX_QTY}.",
        code="invalid_qty",
        minimum=minimum,
        maximum=MAX_QTY,
    )


def _uom_refusal(raw: Any, _errors: list[ErrorDetails]) -> ShopError:
    return Invalid(
        "uom must be one of the product's units (see its uoms), e.g. pcs or box.",
        code="unknown_uom",
        uom=raw if isinstance(raw, str) else None,
    )


RequestSku = Annotated[Sku, Field(min_length=1), Refuse(_sku_refusal)]
RequestUom = Annotated[
    Uom,
    Refuse(_uom_refusal),
    Field(
        description="The unit `qty` counts (one of the product's `uoms`; default its base unit). "
        "Limits and stock count base units; an unknown unit is 422 `unknown_uom`."
    ),
]


def _path_qty(raw: Any) -> Any:
    """A quantity in a path is digits; in JSON it must already be a number."""
    return int(raw) if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,6}", raw) else raw


SKU = Checked[str](RequestSku, Refuse(_sku_refusal))
QTY = {
    minimum: Checked[int](Annotated[StrictInt, Field(ge=minimum, le=MAX_QTY)], _qty_refusal(minimum))
    for minimum in (0, 1)
}
UOM = Checked[str](Uom, Refuse(_uom_refusal))
JOB_ID = Checked[str](JobId, refuse(NotFound, UNKNOWN_JOB_MESSAGE, code="unknown_job", retry=True))
ORDER_ID = Checked[str](
    Annotated[StrictStr, Field(pattern=ORDER_ID_PATTERN)],
    refuse(NotFound, "No such order for this cart.", code="order_not_found"),
)
ORDER_NO = Checked[str](
    OrderNo, Refuse(lambda raw, _e: NotFound(f"No order {str(raw)[:40]!r}.", code="order_not_found"))
)
IDEMPOTENCY_KEY = Checked[str](
    IdempotencyKey,
    refuse(
        Malformed, "Idempotency-Key must be 1 to 100 printable characters.", code="invalid_idempotency_key"
    ),
)


def valid_sku(raw: Any) -> str:
    """Accept a SKU-shaped string; anything else cannot name a product."""
    return SKU.check(raw)


def valid_qty(raw: Any, minimum: int, from_path: bool = False) -> int:
    """Accept a whole number of units in range; booleans, floats and (in JSON) strings are refused."""
    return QTY[minimum].check(_path_qty(raw) if from_path else raw)


class CartRequest(Request):
    """Other properties are ignored."""

    sku: RequestSku
    qty: Annotated[StrictInt, Field(ge=1, le=MAX_QTY), _qty_refusal(1)]
    allow_partial: Annotated[
        StrictBool,
        Refuse(
            lambda _raw, _e: Malformed("allow_partial must be true or false.", code="invalid_allow_partial")
        ),
        Field(description="Hold what is left rather than nothing when fewer units remain."),
    ] = False
    waitlist: Annotated[
        StrictBool,
        Refuse(lambda _raw, _e: Malformed("waitlist must be true or false.", code="invalid_waitlist")),
        Field(
            description="If the SKU is sold out when this request's turn comes while units are held in "
            "carts, wait (up to WAITLIST_TTL_SECONDS) for one to come back: the job shows `waitlisted`, "
            "then `held` when a returned unit is handed over, or `sold_out`."
        ),
    ] = False
    uom: RequestUom = absent()


def _plain_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL")
    return value


class CheckoutRequest(Request):
    """Optional; other properties are ignored."""

    notes: Annotated[
        Annotated[StrictStr, Field(max_length=MAX_NOTES), AfterValidator(_plain_text)] | None,
        refuse(Invalid, f"notes must be a text of at most {MAX_NOTES} characters.", code="invalid_notes"),
    ] = None


class PaymentRequest(Request):
    """Other properties are ignored."""

    order_id: Annotated[
        StrictStr,
        Field(min_length=1),
        schema_only(pattern=ORDER_ID_PATTERN),
        refuse(Malformed, "order_id is required.", code="invalid_order_id"),
    ]
    amount: Annotated[
        StrictInt,
        schema_only(minimum=0, description="Must equal the order total."),
        refuse(Malformed, "amount must be a whole number of Rupiah.", code="invalid_amount"),
    ]
    card_number: Annotated[
        StrictStr,
        schema_only(
            pattern=r"^[0-9 -]+$",
            description="12 to 19 digits passing the Luhn check; spaces and dashes are ignored. "
            "4242424242424242 is approved, 4000000000000002 declined.",
            examples=["4242424242424242"],
        ),
        refuse(Malformed, "card_number is required.", code="invalid_card"),
    ]

    @model_validator(mode="after")
    def _payable(self) -> PaymentRequest:
        """The shape is right; now the order id, the amount and the card must make sense, in that order."""
        self.card_number = re.sub(r"[\s-]", "", self.card_number)
        if not re.match(ORDER_ID_PATTERN, self.order_id):
            raise Refusal(NotFound("No such order for this cart.", code="order_not_found"))
        if self.amount < 0:
            raise Refusal(Invalid("amount cannot be negative.", code="amount_mismatch"))
        if not luhn_valid(self.card_number):
            raise Refusal(Invalid("card_number is not a valid card number.", code="invalid_card"))
        return self


def _text_when_given(name: str) -> Refuse:
    return refuse(Invalid, f"{name} must be a text when given.", code=f"invalid_{name}")


class GoodsReceiptRequest(Request):
    """Units received at a location, counted in the product's base unit unless `uom` says."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"required": ["location", "qty"]})

    location: Annotated[Any, WithJsonSchema({"type": "string", "pattern": LOCATION_PATTERN.pattern})] = None
    qty: Annotated[Any, WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_RECEIPT_QTY})] = None
    uom: Annotated[StrictStr, _text_when_given("uom"), schema_only(pattern=UOM_PATTERN.pattern)] = absent()
    doc_ref: Annotated[
        StrictStr, _text_when_given("doc_ref"), schema_only(minLength=1, maxLength=MAX_DOC_REF)
    ] = absent()


# --- the catalog's query string ----------------------------------------------------------------


def _whole(name: str, maximum: int) -> Refuse:
    def make(_raw: Any, errors: list[ErrorDetails]) -> ShopError:
        if errors[0]["type"] == "value_error":
            return Malformed(f"{name} must be a whole number.", code=f"invalid_{name}")
        return Malformed(f"{name} must be between 1 and {maximum}.", code=f"invalid_{name}")

    return Refuse(make)


def _digits(raw: Any) -> int:
    if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{1,9}", raw):
        raise ValueError("not a whole number")
    return int(raw)


def _stripped(raw: str | None) -> str | None:
    return (raw or "").strip() or None


def _cursor(max_length: int, description: str) -> Any:
    """A cursor parameter's type: text the page before gave out, of at most ``max_length``."""
    schema = {"type": "string", "maxLength": max_length}
    return Annotated[StrictStr | None, WithJsonSchema(schema), Field(description=description)]


CatalogCursor = _cursor(
    cursors.MAX_CURSOR_LENGTH,
    "A `next_cursor` from an earlier page: continues that listing, however deep. "
    "Other parameters sent with it must agree with it (400 `cursor_mismatch`).",
)
BoardCursor = _cursor(
    board.MAX_CURSOR_LENGTH,
    "The `next_cursor` of the previous page: 400 `invalid_cursor` if it is not one, 400 "
    "`cursor_expired` once its walk's ranking has gone (5 minutes unused).",
)


class CatalogArgs(Request):
    """The catalog's query string (every value is text on the wire)."""

    page: Annotated[
        StrictInt,
        Field(
            ge=1,
            le=1_000_000,
            description=f"Page number, from 1; pages starting deeper than {MAX_OFFSET} products are "
            "refused (400 `page_too_deep`): follow `next_cursor` instead.",
        ),
        BeforeValidator(_digits),
        _whole("page", 1_000_000),
    ] = 1
    limit: Annotated[
        StrictInt,
        Field(ge=1, le=MAX_LIMIT, description="Products per page."),
        BeforeValidator(_digits),
        _whole("limit", MAX_LIMIT),
    ] = 10
    cursor: CatalogCursor = None
    sort_by: Annotated[
        Literal[SORTS],  # type: ignore[valid-type]
        Field(
            alias="sortBy",
            description="Sort key; relevance by default with a search (and only then), sales otherwise.",
        ),
        Refuse(
            lambda raw, _e: Malformed(
                f"sortBy must be one of {', '.join(SORTS)}.", code="invalid_sort", sortBy=raw
            )
        ),
    ] = absent()
    sort_dir: Annotated[
        StrictStr | None,
        WithJsonSchema({"type": "string", "pattern": "^([aA][sS][cC]|[dD][eE][sS][cC])$"}),
        Field(
            alias="sortDir",
            description="asc or desc (any case); by default desc for sales, newest, discount and relevance.",
        ),
    ] = None
    category: Annotated[
        StrictStr | None,
        AfterValidator(_stripped),
        WithJsonSchema({"type": "string", "maxLength": 64}),
        Field(description="Only this category (any case)."),
    ] = None
    search: Annotated[
        StrictStr | None,
        WithJsonSchema({"type": "string", "maxLength": MAX_SEARCH_LENGTH}),
        Field(
            validate_default=True,
            description="Every word must begin a word of the name, description or category, ignoring "
            "case and accents; terms with other characters (`100%`) must also appear as written.",
        ),
    ] = None

    @field_validator("search", mode="after")
    @classmethod
    def _search(cls, raw: str | None, info: ValidationInfo) -> str | None:
        """NUL in either text first, then the search's length, then the category's."""
        search, category = _stripped(raw), info.data.get("category")
        if "\x00" in (search or "") + (category or ""):
            raise Refusal(
                Malformed("search and category cannot contain NUL characters.", code="invalid_text")
            )
        if search and len(search) > MAX_SEARCH_LENGTH:
            raise Refusal(
                Malformed(f"search is limited to {MAX_SEARCH_LENGTH} characters.", code="search_too_long")
            )
        if category and len(category) > 64:
            raise Refusal(Malformed("category is limited to 64 characters.", code="invalid_category"))
        return search

    @model_validator(mode="after")
    def _sorting(self) -> CatalogArgs:
        """A relevance sort needs a search; each sort has its own default direction."""
        sort_by = self.sort_by or ("relevance" if self.search else "sales")
        if sort_by == "relevance" and not self.search:
            raise Refusal(Malformed("sortBy=relevance needs a search.", code="invalid_sort", sortBy=sort_by))
        default_dir = "desc" if sort_by in DESCENDING_BY_DEFAULT else "asc"
        sort_dir = (default_dir if self.sort_dir is None else self.sort_dir).lower()
        if sort_dir not in ("asc", "desc"):
            raise Refusal(Malformed("sortDir must be asc or desc.", code="invalid_sort_dir"))
        self.sort_by, self.sort_dir = sort_by, sort_dir
        return self

    def query(self) -> DomainCatalogQuery:
        return DomainCatalogQuery(
            self.page,
            self.limit,
            self.sort_by,
            self.sort_dir or "desc",
            self.category.lower() if self.category else None,
            self.search,
        )


def _board_search_refusal(raw: Any, _errors: list[ErrorDetails]) -> ShopError:
    if isinstance(raw, str) and "\x00" in raw:
        return Malformed("search cannot contain NUL characters.", code="invalid_search")
    return Malformed(f"search is limited to {board.MAX_SEARCH_LENGTH} characters.", code="search_too_long")


class BoardArgs(Request):
    """The sale board's query string (``shop.web.board_paging``): one page of SKUs."""

    limit: Annotated[
        StrictInt,
        Field(ge=1, le=board.MAX_LIMIT, description="Rows per page."),
        BeforeValidator(_digits),
        refuse(
            Malformed,
            f"limit must be a whole number from 1 to {board.MAX_LIMIT}.",
            code="invalid_limit",
            maximum=board.MAX_LIMIT,
        ),
    ] = board.DEFAULT_LIMIT
    sort_by: Annotated[
        Literal[board.SORTS],  # type: ignore[name-defined]
        Field(
            alias="sortBy",
            description="hottest (the default): most recent arrivals first; in_line: longest line first; "
            "available: fewest free units first; expiring: most units in holds expiring within a minute "
            "first. After the ranked SKUs, the others follow in SKU order.",
        ),
        Refuse(
            lambda raw, _e: Malformed(
                f"sortBy must be one of {', '.join(board.SORTS)}.", code="invalid_sort", sortBy=str(raw)[:40]
            )
        ),
    ] = absent()
    search: Annotated[
        StrictStr | None,
        WithJsonSchema({"type": "string", "maxLength": board.MAX_SEARCH_LENGTH, "pattern": "^[^\\u0000]*$"}),
        Field(
            max_length=board.MAX_SEARCH_LENGTH,
            pattern="^[^\\x00]*$",
            description="Only SKUs whose SKU or name contains this, ignoring case.",
        ),
        Refuse(_board_search_refusal),
    ] = absent()
    cursor: BoardCursor = absent()


def board_query(args: Mapping[str, str], secret: str) -> board.BoardQuery:
    """The board page a query string asks for, refused with a clear message if wrong."""
    parsed = parse(BoardArgs, {name: args[name] for name in args})
    search = (parsed.search.strip().lower() or None) if parsed.search is not None else None
    return board.BoardQuery.walk(parsed.limit, parsed.sort_by, search, parsed.cursor or None, secret)


def catalog_query(args: Mapping[str, str]) -> DomainCatalogQuery:
    """The catalog query a query string (or a cursor) asks for, refused with a clear message if wrong."""
    if args.get("cursor"):
        fields, after = cursors.decode(args["cursor"])
        cursors.check_agrees(args, fields)
        return replace(parse(CatalogArgs, fields).query(), after=after)
    query = parse(CatalogArgs, {k: args[k] for k in args if k != "cursor"}).query()
    if (query.page - 1) * query.limit >= MAX_OFFSET:
        raise Malformed(
            f"page goes deeper than {MAX_OFFSET} products; follow next_cursor to go further.",
            code="page_too_deep",
            max_offset=MAX_OFFSET,
        )
    return query
