"""ORM tables. The CHECK constraints restate the stock invariants so the database refuses a breach."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
    case,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


BASE_UOM = "pcs"


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store UTC as a naive timestamp and hand back aware datetimes, identically on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class HoldStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    RELEASED = "released"
    ORDERED = "ordered"
    # Paid; its units are still reserved until the SKU's lane allocates them (``allocate``).
    PAID = "paid"
    # Paid and allocated: on hand, waiting to ship.
    SOLD = "sold"
    # Shipped (a goods issue): the units left on hand.
    SHIPPED = "shipped"


class OrderStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class PaymentStatus(enum.StrEnum):
    PROCESSING = "processing"  # recorded, the gateway asked (or about to be); at most one per order
    PAID = "paid"
    DECLINED = "declined"
    REFUND_PENDING = "refund_pending"  # charged, the order could not be paid; the refund is owed
    REFUNDED = "refunded"
    FAILED = "failed"  # the reconciler found no charge at the gateway: nothing was taken


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("allocated >= 0", name="allocated_not_negative"),
        CheckConstraint("reserved + allocated <= on_hand", name="committed_within_on_hand"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("price <= normal_price", name="price_within_normal"),
        CheckConstraint("max_per_cart >= 1", name="max_per_cart_positive"),
        CheckConstraint("max_per_customer >= 1", name="max_per_customer_positive"),
        # One (key, sku) index per catalog sort, and one with the category first (migration 0009;
        # shop/domain/sort_keys.py reads in their order).
        *(
            Index(f"ix_products_{prefix}{key}_sku", *first, key, "sku")
            for key in ("sales", "name", "created_at", "price", "normal_price")
            for prefix, first in (("", ()), ("category_", ("category",)))
        ),
        Index(
            "ix_products_sale_ends_at",
            "sale_ends_at",
            sqlite_where=text("sale_ends_at IS NOT NULL"),
            postgresql_where=text("sale_ends_at IS NOT NULL"),
        ),
    )

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64))
    # The unit stock is counted in; extra units (product_uoms) are whole multiples of it.
    base_uom: Mapped[str] = mapped_column(String(20), default=BASE_UOM)
    normal_price: Mapped[int] = mapped_column(BigInteger)
    # The flash price while a sale runs (until sale_ends_at, if set); normal_price otherwise.
    price: Mapped[int] = mapped_column(BigInteger)
    image: Mapped[str] = mapped_column(String(300), default="")
    # The SKU's totals over its stock_locations rows (the lane's lock row and the ledger's figures).
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    sales: Mapped[int] = mapped_column(Integer, default=0)
    max_per_cart: Mapped[int] = mapped_column(Integer, default=5)
    # Units one shopper may hold, order and buy across all their carts (None: no such limit).
    max_per_customer: Mapped[int | None] = mapped_column(Integer, default=None)
    # Requests before this moment wait in a pre-queue, ordered by a seeded draw at the start.
    sale_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # After this moment the flash price ends: shoppers pay normal_price again.
    sale_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    uoms: Mapped[list[ProductUom]] = relationship(order_by="ProductUom.conversion", lazy="selectin")
    locations: Mapped[list[StockLocation]] = relationship(
        order_by=lambda: [StockLocation.priority, StockLocation.location_code], lazy="selectin"
    )

    @property
    def available(self) -> int:
        """Units a shopper can put in a cart now: a hold past its expiry holds nothing.

        Overdue holds are freed by the SKU's next batch (or its scheduled expiry, or the sweeper);
        until then they still count in ``reserved``, so they are added back here.
        """
        return self.on_hand - self.reserved - self.allocated + (self.overdue_units or 0)


class ProductUom(Base):
    """An extra unit a product is sold in (box = 12 pcs); the base unit itself has no row."""

    __tablename__ = "product_uoms"
    __table_args__ = (
        UniqueConstraint("sku", "uom", name="uq_product_uoms_sku_uom"),
        CheckConstraint("conversion >= 2", name="conversion_above_one"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    uom: Mapped[str] = mapped_column(String(20))
    # Base units in one of this unit: a whole number, so stock stays counted in whole base units.
    conversion: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StockLocation(Base):
    """A SKU's stock at one warehouse or store: on hand, and of it reserved (carts) and allocated (paid)."""

    __tablename__ = "stock_locations"
    __table_args__ = (
        UniqueConstraint("sku", "location_code", name="uq_stock_locations_sku_location"),
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("allocated >= 0", name="allocated_not_negative"),
        CheckConstraint("reserved + allocated <= on_hand", name="committed_within_on_hand"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    location_code: Mapped[str] = mapped_column(String(20))
    # Holds take units from lower priorities first (then from the location with most free units).
    priority: Mapped[int] = mapped_column(Integer, default=0)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def free(self) -> int:
        return self.on_hand - self.reserved - self.allocated


class MovementType(enum.StrEnum):
    IN = "IN"
    OUT = "OUT"


class DocType(enum.StrEnum):
    GOODS_RECEIPT = "GR"
    GOODS_ISSUE = "GI"
    ADJUSTMENT = "ADJ"


class ItemMovement(Base):
    """One change of on-hand stock at a location, with the document that caused it (append-only)."""

    __tablename__ = "item_movements"
    __table_args__ = (
        CheckConstraint("qty >= 1", name="qty_positive"),
        CheckConstraint("movement_type IN ('IN', 'OUT')", name="movement_type_known"),
        Index("ix_item_movements_sku_id", "sku", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Not a foreign key: the ledger outlives what it describes, as in the brief.
    sku: Mapped[str] = mapped_column(String(64))
    location_code: Mapped[str] = mapped_column(String(20))
    movement_type: Mapped[str] = mapped_column(String(3))
    doc_type: Mapped[str] = mapped_column(String(3))
    doc_ref: Mapped[str] = mapped_column(String(64))
    # Base units, and the quantity and unit as entered with the factor used.
    qty: Mapped[int] = mapped_column(Integer)
    original_qty: Mapped[int] = mapped_column(Integer)
    original_uom: Mapped[str] = mapped_column(String(20))
    conversion: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Counter(Base):
    """A named sequence (order numbers), advanced with one guarded UPDATE in the using transaction."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class SkuFence(Base):
    """The highest lease token that has applied to a SKU's line; stale consumers fail against it."""

    __tablename__ = "sku_fences"

    lane: Mapped[str] = mapped_column(String(80), primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger, default=0)


class Cart(Base):
    __tablename__ = "carts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Hold(Base):
    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("qty >= 1", name="qty_positive"),
        # A SKU's overdue holds are a range of it: no batch reads every active hold of its SKU (0011).
        Index("ix_holds_sku_status_expires", "sku", "status", "expires_at"),
        Index("ix_holds_cart_in_cart", "cart_id", "in_cart"),
        # A batch's carts' lines of its SKU, one equality per cart: never all the SKU's holds (0012).
        Index("ix_holds_cart_sku_status", "cart_id", "sku", "status"),
        Index("ix_holds_status_expires", "status", "expires_at"),
        Index("ix_holds_sku_shopper", "sku", "shopper_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id"))
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    qty: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=HoldStatus.ACTIVE)
    # Whether the line still shows in the cart: expired lines stay visible until checkout or removal.
    in_cart: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Who asked for the units (shop.domain.shoppers), for the per-customer limit; None for older holds.
    shopper_key: Mapped[str | None] = mapped_column(String(64), default=None)
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"), default=None)
    # The quantity and unit as the shopper entered them (qty is always in base units).
    uom: Mapped[str] = mapped_column(String(20), default=BASE_UOM)
    uom_qty: Mapped[int] = mapped_column(Integer, default=0)
    conversion: Mapped[int] = mapped_column(Integer, default=1)
    # Prices per base unit fixed when the hold was taken: the normal price, and what the shopper pays.
    unit_price: Mapped[int] = mapped_column(BigInteger, default=0)
    price: Mapped[int] = mapped_column(BigInteger, default=0)
    # Where the units are reserved (then allocated): JSON {"JKT": 3, "SBY": 2} (shop.domain.locations).
    locations: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# The catalog's computed sort keys, indexed as these very expressions (migration 0009): what is left
# once reserved and allocated units are counted, and the flash discount in per mille.
FREE_UNITS = Product.on_hand - Product.reserved - Product.allocated
FLASH_DISCOUNT = case(
    (
        Product.normal_price > literal_column("0"),
        (Product.normal_price - Product.price) * literal_column("1000") // Product.normal_price,
    ),
    else_=literal_column("0"),
)
Index("ix_products_available_sku", FREE_UNITS, Product.sku)
Index("ix_products_discount_sku", FLASH_DISCOUNT, Product.sku)
Index("ix_products_category_available_sku", Product.category, FREE_UNITS, Product.sku)
Index("ix_products_category_discount_sku", Product.category, FLASH_DISCOUNT, Product.sku)

# Units in the product's holds past their expiry but not expired yet: free, whatever ``reserved``
# says. Loaded with the row (an indexed subquery), so a product read in a closed session has it.
Product.overdue_units = column_property(
    select(func.coalesce(func.sum(Hold.qty), 0))
    .where(
        Hold.sku == Product.sku,
        Hold.status == HoldStatus.ACTIVE,
        Hold.expires_at <= bindparam("overdue_now", callable_=utcnow, type_=UTCDateTime),
    )
    .correlate_except(Hold)
    .scalar_subquery(),
)


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"
    SERVED = "served"  # a returned unit was handed to it: it became a hold
    EXPIRED = "expired"  # nothing came back in time: it ended as sold out
    REFUSED = "refused"  # a unit came back but the cart or shopper limit refused it


class WaitlistEntry(Base):
    """A request that found its SKU sold out while units were held in carts, waiting for one to return.

    Entries are created and resolved only by the SKU's consumer, under the product's row lock, so
    the oldest waiting entries get returned units before any newer request in line.
    """

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint("qty >= 1", name="qty_positive"),
        Index("ix_waitlist_entries_sku_status", "sku", "status", "id"),
        Index("ix_waitlist_entries_status_expires", "status", "expires_at"),
        Index("ix_waitlist_entries_resolved_by", "resolved_by"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    # The waitlisted request's job id: the shopper keeps polling it, and its hold carries it.
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id"))
    shopper_key: Mapped[str | None] = mapped_column(String(64), default=None)
    qty: Mapped[int] = mapped_column(Integer)
    allow_partial: Mapped[bool] = mapped_column(Boolean, default=False)
    ticket: Mapped[int | None] = mapped_column(BigInteger, default=None)
    status: Mapped[str] = mapped_column(String(16), default=WaitlistStatus.WAITING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The queued request whose batch resolved it (a crashed consumer's successor republishes it).
    resolved_by: Mapped[str | None] = mapped_column(String(128), default=None)
    result: Mapped[str | None] = mapped_column(Text, default=None)
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id"), default=None)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_status_pay_before", "status", "pay_before"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.PENDING_PAYMENT)
    total: Mapped[int] = mapped_column(BigInteger)
    pay_before: Mapped[datetime] = mapped_column(UTCDateTime)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    # The number a shopper quotes: KL-YYYYMMDD-NNNNNN (shop.domain.order_numbers).
    order_no: Mapped[str] = mapped_column(String(30), unique=True)
    order_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    # Soft delete: an operator cancelled the order; it is kept, with its lines, for the record.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    lines: Mapped[list[OrderLine]] = relationship(order_by="OrderLine.sku", lazy="selectin")


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    hold_id: Mapped[int] = mapped_column(ForeignKey("holds.id"))
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    name: Mapped[str] = mapped_column(String(200))
    # Base units, and the quantity and unit as entered.
    qty: Mapped[int] = mapped_column(Integer)
    uom: Mapped[str] = mapped_column(String(20), default=BASE_UOM)
    uom_qty: Mapped[int] = mapped_column(Integer, default=0)
    # Per base unit: the normal price; then the line's discount and what the shopper pays for it.
    unit_price: Mapped[int] = mapped_column(BigInteger)
    disc_pct: Mapped[int] = mapped_column(Integer, default=0)
    disc_amt: Mapped[int] = mapped_column(BigInteger, default=0)
    net_amt: Mapped[int] = mapped_column(BigInteger, default=0)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("cart_id", "idempotency_key", name="uq_payments_cart_key"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        # At most one attempt in flight per order: the database refuses a second one.
        Index(
            "uq_payments_order_in_flight",
            "order_id",
            unique=True,
            sqlite_where=text("status = 'processing'"),
            postgresql_where=text("status = 'processing'"),
        ),
        Index("ix_payments_status_updated", "status", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    cart_id: Mapped[str] = mapped_column(ForeignKey("carts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=PaymentStatus.PROCESSING)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    # Hash of the request body, so a reused key with a different body is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    card_last4: Mapped[str] = mapped_column(String(4))
    provider_reference: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AppliedRequest(Base):
    """One row per applied queued request: makes applying idempotent and is the audit ledger.

    Rows that change a SKU's stock figures, or are decided against them, also form that SKU's
    append-only ledger: ``seq`` numbers them 1, 2, 3, ... per SKU (issued under the product's row
    lock), and ``on_hand_after``/``reserved_after`` are the figures once the row was applied, so the
    audit can replay every SKU from its first row to today's figures. Besides queued requests, the
    ledger holds rows for a product's creation, inline expiries, waitlist hand-offs, payments and
    order expiries (their ``request_id`` names what they record, e.g. ``sold-h42``).
    """

    __tablename__ = "applied_requests"
    __table_args__ = (
        Index("ix_applied_requests_lane_ticket", "lane", "ticket"),
        Index("ix_applied_requests_sku_seq", "sku", "seq", unique=True),
    )

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    lane: Mapped[str] = mapped_column(String(80))
    ticket: Mapped[int | None] = mapped_column(BigInteger, default=None)
    kind: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(Text)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sku: Mapped[str | None] = mapped_column(String(64), default=None)
    seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    params: Mapped[str | None] = mapped_column(Text, default=None)
    on_hand_after: Mapped[int | None] = mapped_column(Integer, default=None)
    reserved_after: Mapped[int | None] = mapped_column(Integer, default=None)


class LanePause(Base):
    """Whether a lane is paused: the source of truth; Redis's pause flag is a cache of it (lanes.pausing).

    ``version`` grows with every pause and resume, so a stale cache write can never undo a newer one.
    """

    __tablename__ = "lane_pauses"

    lane: Mapped[str] = mapped_column(String(80), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, nullable=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
