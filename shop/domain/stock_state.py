"""The SKU's stock as a batch walks its requests: loaded once under the row lock, kept current.

``load_state`` locks the product row, then the batch's cart lines, in that fixed order; frees every
overdue hold of the SKU first (a hold past its expiry holds nothing); and records the batch's
carts. ``StockState`` is the running figure each request is decided against, in line order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    String,
    func,
    literal,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session, aliased

from shop.domain.ledger import (
    StockEntry,
    last_seq,
)
from shop.domain.locations import choose, dump_locations, give_back, merge, parse_locations
from shop.domain.requests import Outcome, OutcomeDict, QueuedRequest, RequestKind
from shop.domain.stock import movement_row
from shop.storage.bulk import BulkInsert
from shop.storage.models import (
    Cart,
    DocType,
    Hold,
    HoldStatus,
    Product,
    WaitlistEntry,
)


@dataclass(slots=True, eq=False)
class NewHold:
    """A hold the batch created: a plain object, not an ORM one, until the batch writes it.

    The ORM's unit of work (instrumented attributes, identity map, flush) cost more per hold than
    the decision itself (issue 11's and issue 21's profiles), and nothing in a batch needs the new
    holds tracked: every later request of the batch that changes one changes this object before the
    batch writes it (``shop.domain.stock_write``), with the attributes a ``Hold`` has.
    """

    cart_id: str
    sku: str
    qty: int
    expires_at: datetime
    request_id: str
    shopper_key: str | None
    uom: str
    uom_qty: int
    conversion: int
    unit_price: int
    price: int
    locations: str
    created_at: datetime
    status: str = HoldStatus.ACTIVE
    in_cart: bool = True
    updated_at: datetime | None = None
    id: int | None = None


# A cart's line of the SKU during a batch: loaded (and locked) from the database, or new in it.
CartLine = Hold | NewHold


@dataclass
class StockState:
    """The SKU's figures as the batch walks its requests, the holds it touched, and its ledger entries."""

    product: Product
    on_hand: int
    reserved: int
    holds_by_cart: dict[str, CartLine]
    hold_ttl: timedelta
    now: datetime
    allocated: int = 0
    sales: int = 0
    # (reserved, on_hand, allocated) as the batch found them (the product object may change meanwhile).
    started_totals: tuple[int, int, int] = (0, 0, 0)
    # Per location: [priority, on_hand, reserved, allocated] as the batch goes, and as it began.
    locations: dict[str, list[int]] = field(default_factory=dict)
    started: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    # Units the product is sold in, base unit included: uom -> base units in one.
    units: dict[str, int] = field(default_factory=dict)
    # Item movements of the batch (on-hand changes), written with the stock.
    movements: list[dict] = field(default_factory=list)
    # Holds the batch created, written in one INSERT with the stock (see NewHold).
    new_holds: list[NewHold] = field(default_factory=list)
    # Carts with expired lines of this SKU still shown: only their new holds need to dismiss them.
    stale_carts: set[str] = field(default_factory=set)
    # Ledger entries in the order they happened, numbered from the SKU's last sequence number.
    journal: list[StockEntry] = field(default_factory=list)
    seq: int = 0
    # The per-customer limit: units each shopper of the batch has (held, ordered, sold), kept current.
    customer_limit: int | None = None
    by_shopper: dict[str, int] = field(default_factory=dict)
    touched_shoppers: set[str] = field(default_factory=set)
    # The SKU's waiting entries, oldest first (read when first needed), and what the batch did to them.
    waitlist_ttl: timedelta | None = None
    waitlist: list[WaitlistEntry] | None = None
    joined: list[WaitlistEntry] = field(default_factory=list)
    resolved: list[tuple[WaitlistEntry, OutcomeDict]] = field(default_factory=list)
    # An operator's change in this batch altered the product's admission facts.
    rules_changed: bool = False
    # Requests decided (and noted in the ledger) before the walk: expiries of holds freed at its start.
    decided: dict[str, OutcomeDict] = field(default_factory=dict)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved - self.allocated

    def take(self, qty: int) -> dict[str, int]:
        """Reserve ``qty`` units at the locations the rule picks (shop.domain.locations); return where."""
        if len(self.locations) == 1:
            # One location (most SKUs): it has the units, since its free units are the SKU's available.
            code = next(iter(self.locations))
            where: dict[str, int] | None = {code: qty}
        else:
            free = [(code, loc[0], loc[1] - loc[2] - loc[3]) for code, loc in self.locations.items()]
            where = choose(free, qty)
        if where is None or qty > self.available:
            raise RuntimeError(f"{self.product.sku}: locations cannot supply {qty} units; totals disagree")
        for code, units in where.items():
            self.locations[code][2] += units
        self.reserved += qty
        return where

    def reserve(self, hold: CartLine, qty: int) -> None:
        """Reserve ``qty`` more units for an existing hold."""
        if qty > 0:
            hold.locations = dump_locations(merge(parse_locations(hold.locations), self.take(qty)))

    def unreserve(self, hold: CartLine, qty: int) -> None:
        """Give ``qty`` of the hold's units back, last-taken location first."""
        kept, returned = give_back(parse_locations(hold.locations), qty)
        for code, units in returned.items():
            self.locations[code][2] -= units
        hold.locations = dump_locations(kept)
        self.reserved -= qty

    def release_all(self, hold: CartLine) -> None:
        """Give all the hold's units back; the hold keeps the record of where they were."""
        for code, units in parse_locations(hold.locations).items():
            self.locations[code][2] -= units
        self.reserved -= hold.qty

    def location(self, code: str) -> list[int]:
        """Return a location's figures, adding it (after the others by priority) if the SKU has none yet."""
        if code not in self.locations:
            priority = max((loc[0] for loc in self.locations.values()), default=-1) + 1
            self.locations[code] = [priority, 0, 0, 0]
        return self.locations[code]

    def move(
        self, code: str, qty: int, doc_type: DocType, doc_ref: str, uom_qty: int, uom: str, conversion: int
    ) -> None:
        """Change a location's on hand by ``qty`` base units and record the movement."""
        self.location(code)[1] += qty
        self.on_hand += qty
        self.movements.append(
            movement_row(self.product.sku, code, qty, doc_type, doc_ref, self.now, uom_qty, uom, conversion)
        )

    def count_units(self, shopper: str | None, delta: int) -> None:
        """Follow a shopper's units through the batch (their total is re-read afterwards)."""
        if not shopper:
            return
        self.touched_shoppers.add(shopper)
        if shopper in self.by_shopper:
            self.by_shopper[shopper] += delta

    def note(
        self,
        request_id: str,
        kind: str,
        outcome: OutcomeDict,
        ticket: int | None = None,
        params: dict | None = None,
    ) -> None:
        """Append a ledger entry with the figures as they stand now."""
        self.seq += 1
        self.journal.append(
            StockEntry(
                request_id=request_id,
                kind=kind,
                outcome=outcome,
                seq=self.seq,
                on_hand=self.on_hand,
                reserved=self.reserved,
                ticket=ticket,
                params=dict(params or {}),
            )
        )


def load_state(
    session: Session, sku: str, requests: Sequence[QueuedRequest], hold_ttl: timedelta, now: datetime
) -> StockState | None:
    """Lock the product row, then the carts' current holds, in that fixed order."""
    product = session.scalar(select(Product).where(Product.sku == sku).with_for_update())
    if product is None:
        return None
    # Before anything is decided: a hold past its expiry holds nothing, whoever's it is.
    overdue = _expire_overdue_holds(session, sku, now)
    cart_ids = sorted({r.params["cart_id"] for r in requests if "cart_id" in r.params})
    created = _create_carts(session, cart_ids, now)
    # A cart created just now has no lines yet (holds refer to their cart): look up the others only.
    holds_by_cart, stale_carts = cart_lines(session, sku, [c for c in cart_ids if c not in created])
    by_shopper: dict[str, int] = {}
    if product.max_per_customer:
        shoppers = {r.params.get("shopper") for r in requests} - {None, ""}
        by_shopper = customer_units(session, sku, shoppers)
    locations = {
        loc.location_code: [loc.priority, loc.on_hand, loc.reserved, loc.allocated]
        for loc in product.locations
    }
    state = StockState(
        product=product,
        on_hand=product.on_hand,
        reserved=product.reserved,
        allocated=product.allocated,
        started_totals=(product.reserved, product.on_hand, product.allocated),
        locations=locations,
        started={code: (loc[1], loc[2], loc[3]) for code, loc in locations.items()},
        units={product.base_uom: 1, **{u.uom: u.conversion for u in product.uoms}},
        holds_by_cart=holds_by_cart,
        hold_ttl=hold_ttl,
        now=now,
        stale_carts=stale_carts,
        seq=last_seq(session, sku),
        customer_limit=product.max_per_customer,
        by_shopper=by_shopper,
    )
    # An expiry job of this batch for a hold freed here is what freed it: its entry comes first.
    expiring = {}
    for request in requests:
        if request.kind == RequestKind.EXPIRE_HOLD:
            expiring.setdefault(int(request.params.get("hold_id") or 0), request)
    for hold_id, qty, shopper, where in overdue:
        # Each location gets back what the hold reserved there (the started figures predate this).
        for code, units in parse_locations(where).items():
            state.location(code)[2] -= units
        state.reserved -= qty
        if shopper:
            # Their units were counted after the update: only Redis's copy must be refreshed.
            state.touched_shoppers.add(shopper)
        job = expiring.get(hold_id)
        if job is not None:
            outcome: OutcomeDict = {"outcome": Outcome.EXPIRED, "hold_id": hold_id, "sku": sku, "qty": qty}
            state.decided[job.request_id] = outcome
            state.note(job.request_id, job.kind, outcome, job.ticket, job.params)
            continue
        state.note(
            f"inline-expire-h{hold_id}",
            RequestKind.EXPIRE_HOLD,
            {"outcome": Outcome.EXPIRED, "hold_id": hold_id, "sku": sku, "qty": qty, "inline": True},
            params={"hold_id": hold_id, "sku": sku},
        )
    return state


def _expire_overdue_holds(
    session: Session, sku: str, now: datetime
) -> list[tuple[int, int, str | None, str | None]]:
    """Expire every hold of the SKU past its expiry in one statement; return (id, qty, shopper, locations).

    Called under the product's row lock at the start of a batch, so the units are free before the
    waitlist and the line are served. The update is conditional on the hold still being active, so
    a checkout, the scheduled expiry or the sweeper reaching the same hold changes it once only.
    """
    rows = session.execute(
        update(Hold)
        .where(Hold.sku == sku, Hold.status == HoldStatus.ACTIVE, Hold.expires_at <= now)
        .values(status=HoldStatus.EXPIRED, updated_at=now)
        .returning(Hold.id, Hold.qty, Hold.shopper_key, Hold.locations)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted((int(hold_id), int(qty), shopper, where) for hold_id, qty, shopper, where in rows)


def cart_lines(session: Session, sku: str, cart_ids: Sequence[str]) -> tuple[dict[str, Hold], set[str]]:
    """Lock the carts' live holds on the SKU, and find the carts still showing expired lines of it."""
    holds_by_cart: dict[str, Hold] = {}
    stale_carts: set[str] = set()
    dialect = session.get_bind().dialect.name
    for start in range(0, len(cart_ids), 500):
        chunk = cart_ids[start : start + 500]
        line, live = _lines_by_cart(dialect, chunk, Hold.sku == sku, Hold.status == HoldStatus.ACTIVE)
        # The holds themselves, locked in id order as before (the lateral's name, not ``LATERAL line``).
        lock = literal_column("line") if line is not Hold else Hold
        rows = session.scalars(live.order_by(line.id).with_for_update(of=lock))
        holds_by_cart.update({hold.cart_id: hold for hold in rows})
        # Expired lines only come from this lane (whose row lock we hold), so this stays true all batch.
        line, stale = _lines_by_cart(
            dialect, chunk, Hold.sku == sku, Hold.status == HoldStatus.EXPIRED, Hold.in_cart.is_(True)
        )
        stale_carts.update(session.scalars(stale.with_only_columns(line.cart_id).distinct()))
    return holds_by_cart, stale_carts


def _lines_by_cart(dialect: str, cart_ids: Sequence[str], *where: ColumnElement[bool]) -> tuple[Any, Select]:
    """Select the carts' holds matching ``where``, each cart looked up by (cart_id, sku, status) alone.

    Without fresh statistics (a sale outruns autovacuum) PostgreSQL prices ``cart_id IN (...)``
    above the SKU's (sku, status, ...) index, which reads every active hold of the SKU. Asked once
    per cart (a LATERAL subquery that OFFSET 0 keeps the planner from flattening), each lookup is
    an equality on all of ix_holds_cart_sku_status's columns, which no other index beats. SQLite
    probes an IN list once per value already and prefers the index with more equality columns.
    Returns the holds' entity (to order, lock or pick columns by) and the statement.
    """
    if dialect != "postgresql":
        return Hold, select(Hold).where(Hold.cart_id.in_(cart_ids), *where)
    carts = func.unnest(literal(list(cart_ids), ARRAY(String))).table_valued("id").render_derived("cart")
    per_cart = select(Hold).where(Hold.cart_id == carts.c.id, *where).offset(literal_column("0"))
    line = aliased(Hold, per_cart.lateral("line"))
    return line, select(line).select_from(carts).join(line, true())


def customer_units(session: Session, sku: str, shoppers: Iterable[str]) -> dict[str, int]:
    """Units of the SKU each shopper holds, has ordered or has bought, across carts.

    Active holds count until they are expired, even overdue ones: expiring one (on schedule, by
    the sweeper, or inline when its cart acts again) is what takes its units off the count.
    """
    keys = sorted(shoppers)
    units = dict.fromkeys(keys, 0)
    for start in range(0, len(keys), 500):
        rows = session.execute(
            select(Hold.shopper_key, func.sum(Hold.qty))
            .where(
                Hold.sku == sku,
                Hold.shopper_key.in_(keys[start : start + 500]),
                Hold.status.in_(
                    [
                        HoldStatus.ACTIVE,
                        HoldStatus.ORDERED,
                        HoldStatus.PAID,
                        HoldStatus.SOLD,
                        HoldStatus.SHIPPED,
                    ]
                ),
            )
            .group_by(Hold.shopper_key)
        )
        units.update({key: int(total) for key, total in rows})
    return units


# The batch's carts: known ones are skipped; all are created at the batch's moment.
_NEW_CARTS = BulkInsert(
    Cart.__table__, columns=("id",), constants=("created_at",), returning=("id",), skip_conflicts=True
)


def _create_carts(session: Session, cart_ids: Sequence[str], now: datetime) -> set[str]:
    """Record the batch's carts in one statement, skipping known ones; return those it created."""
    rows = _NEW_CARTS.execute(session, [(cart_id,) for cart_id in cart_ids], created_at=now)
    return {cart_id for (cart_id,) in rows}


def refusal(state: StockState, wanted: int) -> OutcomeDict:
    """The outcome of asking for more than is available: sold out, or how many are left."""
    sku = state.product.sku
    if state.available <= 0:
        return {"outcome": Outcome.SOLD_OUT, "sku": sku, "available": 0}
    return {"outcome": Outcome.INSUFFICIENT, "sku": sku, "available": state.available, "requested": wanted}


def request_unit(state: StockState, request: QueuedRequest) -> tuple[str, int] | None:
    """Return the request's unit and its conversion (the base unit if none was given); None if unknown."""
    uom = request.params.get("uom") or state.product.base_uom
    conversion = state.units.get(uom)
    return None if conversion is None else (uom, conversion)


def unknown_unit(state: StockState, request: QueuedRequest) -> OutcomeDict:
    """The outcome of a request in a unit the product is not sold in."""
    return {"outcome": Outcome.UNKNOWN_UOM, "sku": state.product.sku, "uom": request.params.get("uom")}


def not_due(
    state: StockState,
    found: Hold | WaitlistEntry | None,
    live: str,
    named: tuple[str, Any],
    unknown: str,
    noun: str,
) -> OutcomeDict | None:
    """Refuse, as a no-op, an expiry of what is unknown, no longer ``live`` or not due; None if due.

    An expiry can arrive twice (rq-scheduler, the sweeper) or after a checkout: only the first,
    on time, changes anything.
    """
    key, value = named
    if found is None:
        return {"outcome": Outcome.NOOP, key: value, "reason": f"unknown {unknown}"}
    if found.status != live:
        return {"outcome": Outcome.NOOP, key: value, "reason": f"{noun} is {found.status}"}
    if found.expires_at > state.now:
        return {"outcome": Outcome.NOOP, key: value, "reason": f"{noun} not due yet"}
    return None
