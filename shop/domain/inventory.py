"""The write side of stock: holds, quantity changes, expiry, stock levels and the waitlist of one SKU.

All changes to a SKU's holds go through ``apply_stock_requests``: one transaction for a batch of
that SKU's queued requests, decided one by one in line order against a running stock figure read
once under the row lock. The 37th unit goes to the 37th in line, never to a later request.

The waitlist lives in the same step: a request that asked for it (``waitlist: true``) and finds the
SKU sold out while units are held in carts becomes a waiting entry, and whenever units are
available again (a hold expired or removed, an unpaid order expired, more stock) the oldest
waiting entries get them before the next request in line is decided.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
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
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session, aliased

from shop.domain.ledger import (
    Outcome,
    QueuedRequest,
    StockEntry,
    claim_fence,
    last_seq,
    record_outcomes,
    record_stock_entries,
    recorded_outcomes,
    recorded_seqs,
)
from shop.domain.locations import DEFAULT_LOCATION, choose, dump_locations, give_back, merge, parse_locations
from shop.domain.pricing import current_price
from shop.domain.stock import Delta, change_locations, movement_row, record_movements
from shop.storage.bulk import BulkInsert
from shop.storage.models import (
    Cart,
    DocType,
    Hold,
    HoldStatus,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    StockLocation,
    WaitlistEntry,
    WaitlistStatus,
    utcnow,
)


class RequestKind:
    HOLD = "hold"
    SET_QUANTITY = "set_quantity"
    EXPIRE_HOLD = "expire_hold"
    SET_STOCK = "set_stock"
    # Units came back outside the SKU's line (an unpaid order expired on its checkout line): tell it.
    HANDOFF = "handoff"
    EXPIRE_WAITLIST = "expire_waitlist"
    # The first request in line when a sale opens: records the pre-queue's draw in the ledger.
    OPEN_SALE = "open_sale"
    # Stock lifecycle (docs/issue11-design.md): goods receipt; paid units reserved -> allocated;
    # goods issue of an order's allocated units.
    RECEIVE = "receive"
    ALLOCATE = "allocate"
    SHIP = "ship"


# Product details an operator may change together with the stock (validated before queueing).
PRODUCT_DETAIL_FIELDS = frozenset(
    {
        "name",
        "category",
        "description",
        "image",
        "price",
        "normal_price",
        "base_uom",
        "max_per_cart",
        "max_per_customer",
        "sale_starts_at",
        "sale_ends_at",
    }
)


# The prefix of a SKU's lane name; defined once here, read by the lanes and the pages.
SKU_LANE_PREFIX = "sku:"


def sku_lane(sku: str) -> str:
    """Name the line (RQ queue) that serialises one SKU's requests."""
    return SKU_LANE_PREFIX + sku


@dataclass
class BatchEffects:
    """What a batch did besides its outcomes, for the consumer to publish after the commit."""

    # Each request's place in the SKU's ledger (for its receipt).
    seqs: dict[str, int] = field(default_factory=dict)
    # The SKU's (available, held in carts and unpaid orders) after the batch.
    stock: tuple[int, int] | None = None
    # Units held, ordered or sold per shopper touched by the batch (SKUs with a per-customer limit).
    shopper_units: dict[str, int] = field(default_factory=dict)
    # Waitlist entries that joined (job id, entry id), and those resolved (their jobs' new results).
    waitlist_joined: list[tuple[str, int]] = field(default_factory=list)
    waitlist_resolved: list[WaitlistResolution] = field(default_factory=list)
    # The SKU's admission facts as committed when the batch changed them (an operator's change):
    # (max_per_cart, max_per_customer, sale_starts_at), for the consumer to refresh Redis's cache.
    # (max_per_cart, max_per_customer, sale_starts_at, base_uom, ((uom, conversion), ...)) committed.
    product_rules: tuple[int, int | None, datetime | None, str, tuple[tuple[str, int], ...]] | None = None

    def merge(self, later: BatchEffects) -> None:
        """Add what a later transaction of the same batch did (a batch split to isolate a failure)."""
        self.seqs.update(later.seqs)
        if later.stock is not None:
            self.stock = later.stock
        self.shopper_units.update(later.shopper_units)
        self.waitlist_joined.extend(later.waitlist_joined)
        self.waitlist_resolved.extend(later.waitlist_resolved)
        if later.product_rules is not None:
            self.product_rules = later.product_rules


@dataclass(frozen=True)
class WaitlistResolution:
    """A waitlisted request's final outcome, to publish as a new result of its job."""

    job_id: str
    cart_id: str
    outcome: Outcome
    seq: int | None


@dataclass
class _StockState:
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
    resolved: list[tuple[WaitlistEntry, Outcome]] = field(default_factory=list)
    # An operator's change in this batch altered the product's admission facts.
    rules_changed: bool = False
    # Requests decided (and noted in the ledger) before the walk: expiries of holds freed at its start.
    decided: dict[str, Outcome] = field(default_factory=dict)

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
        outcome: Outcome,
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


def apply_stock_requests(
    session: Session,
    sku: str,
    fence_token: int,
    requests: Sequence[QueuedRequest],
    hold_ttl: timedelta,
    now: datetime | None = None,
    before_commit: Callable[[], None] | None = None,
    effects: BatchEffects | None = None,
    waitlist_ttl: timedelta | None = None,
) -> list[Outcome]:
    """Apply a batch of one SKU's requests in line order, in one transaction; return each outcome.

    Every decision is also an entry of the SKU's ledger, with the figures after it. ``effects``
    (if given) collects what the consumer publishes besides the outcomes. ``waitlist_ttl`` is how
    long a waitlist entry waits for a returned unit (None: requests cannot join the waitlist).
    ``before_commit`` runs inside the transaction after every decision is written; the fault tests
    use it to stall (and kill) a consumer mid-apply.
    """
    now = now or utcnow()
    lane = sku_lane(sku)
    effects = effects if effects is not None else BatchEffects()
    with session.begin():
        claim_fence(session, lane, fence_token)
        done = recorded_outcomes(session, [r.request_id for r in requests])
        fresh = _unseen(requests, done)
        outcomes: dict[str, Outcome] = dict(done)
        if done:
            effects.seqs.update(recorded_seqs(session, done))
            _republish_waitlist(session, list(done), effects)
        state = None
        if fresh:
            state = _load_state(session, sku, fresh, hold_ttl, now)
            if state is not None:
                state.waitlist_ttl = waitlist_ttl
            applied: list[tuple[QueuedRequest, Outcome]] = []
            for request in fresh:
                if state is None:
                    outcome: Outcome = {"outcome": "unknown_sku", "sku": sku}
                else:
                    # Units available now go to the oldest waitlist entries before this request.
                    _serve_waitlist(session, state, request.request_id)
                    if request.request_id in state.decided:
                        outcome = state.decided[request.request_id]
                    else:
                        outcome = _apply_one(session, state, request)
                        state.note(request.request_id, request.kind, outcome, request.ticket, request.params)
                outcomes[request.request_id] = outcome
                applied.append((request, outcome))
            if state is not None:
                _serve_waitlist(session, state, fresh[-1].request_id)
                _write_stock(session, state)
            session.flush()
            _fill_hold_ids(applied)
            if state is not None:
                _settle_waitlist(state, effects)
            if state is None:
                record_outcomes(session, lane, applied, now)
            else:
                record_stock_entries(session, lane, sku, state.journal, now)
                effects.seqs.update({e.request_id: e.seq for e in state.journal})
                if state.customer_limit and state.touched_shoppers:
                    effects.shopper_units = customer_units(session, sku, state.touched_shoppers)
            if state is not None and state.rules_changed:
                product = state.product
                effects.product_rules = (
                    product.max_per_cart,
                    product.max_per_customer,
                    product.sale_starts_at,
                    product.base_uom,
                    tuple((u.uom, u.conversion) for u in product.uoms),
                )
            if before_commit is not None:
                before_commit()
        effects.stock = _stock_after(session, sku, state)
    return [outcomes[r.request_id] for r in requests]


def _waiting_entries(session: Session, state: _StockState) -> list[WaitlistEntry]:
    """Read the SKU's waiting entries once per batch, with their carts' lines and shoppers' units."""
    if state.waitlist is None:
        sku = state.product.sku
        state.waitlist = list(
            session.scalars(
                select(WaitlistEntry)
                .where(WaitlistEntry.sku == sku, WaitlistEntry.status == WaitlistStatus.WAITING)
                .order_by(WaitlistEntry.id)
            )
        )
        carts = sorted({e.cart_id for e in state.waitlist} - set(state.holds_by_cart))
        holds, stale = _cart_lines(session, sku, carts)
        for cart_id, hold in holds.items():
            state.holds_by_cart.setdefault(cart_id, hold)
        state.stale_carts |= stale
        if state.customer_limit:
            shoppers = {e.shopper_key for e in state.waitlist if e.shopper_key} - set(state.by_shopper)
            state.by_shopper.update(customer_units(session, sku, shoppers))
    return state.waitlist


def _join_waitlist(session: Session, state: _StockState, request: QueuedRequest, qty: int) -> Outcome:
    """Keep a sold-out request waiting for a unit held in a cart to come back."""
    assert state.waitlist_ttl is not None
    entries = _waiting_entries(session, state)
    entry = WaitlistEntry(
        sku=state.product.sku,
        request_id=request.request_id,
        cart_id=request.params["cart_id"],
        shopper_key=request.params.get("shopper") or None,
        qty=qty,
        allow_partial=bool(request.params.get("allow_partial", False)),
        ticket=request.ticket,
        status=WaitlistStatus.WAITING,
        created_at=state.now,
        expires_at=state.now + state.waitlist_ttl,
    )
    session.add(entry)
    ahead = sum(1 for e in entries if e.status == WaitlistStatus.WAITING)
    entries.append(entry)
    state.joined.append(entry)
    return {
        "outcome": "waitlisted",
        "sku": state.product.sku,
        "qty": qty,
        "waitlist_position": ahead,
        "expires_at": entry.expires_at.isoformat(),
    }


def _serve_waitlist(session: Session, state: _StockState, trigger: str) -> None:
    """Give available units to the oldest waiting entries they fit, before anyone newer in line.

    An entry that does not fit yet (it wants 2, 1 came back) keeps its place; a later one may fit.
    """
    if state.available <= 0:
        return
    for entry in list(_waiting_entries(session, state)):
        if state.available <= 0:
            return
        if entry.status != WaitlistStatus.WAITING:
            continue
        if entry.expires_at <= state.now:
            _close_entry(state, entry, WaitlistStatus.EXPIRED, _waitlist_expired(state, entry), trigger)
            continue
        params = {
            "cart_id": entry.cart_id,
            "sku": entry.sku,
            "qty": entry.qty,
            "allow_partial": entry.allow_partial,
            "shopper": entry.shopper_key,
        }
        outcome = _place_hold(session, state, QueuedRequest(entry.request_id, RequestKind.HOLD, params))
        if outcome["outcome"] == "held":
            _close_entry(state, entry, WaitlistStatus.SERVED, outcome, trigger)
        elif outcome["outcome"] not in ("sold_out", "insufficient"):
            _close_entry(state, entry, WaitlistStatus.REFUSED, outcome, trigger)


def _waitlist_expired(state: _StockState, entry: WaitlistEntry) -> Outcome:
    return {**_refusal(state, entry.qty), "waitlist_expired": True}


def _close_entry(
    state: _StockState, entry: WaitlistEntry, status: WaitlistStatus, outcome: Outcome, trigger: str
) -> None:
    """Resolve an entry within the batch; the resolution is an entry of the SKU's ledger too."""
    entry.status = status
    entry.resolved_at = state.now
    entry.resolved_by = trigger
    if state.waitlist is not None and entry in state.waitlist:
        state.waitlist.remove(entry)
    state.resolved.append((entry, outcome))
    kind = "waitlist_handoff" if status == WaitlistStatus.SERVED else "waitlist_close"
    params = {"request_id": entry.request_id, "cart_id": entry.cart_id, "qty": entry.qty}
    state.note(f"waitlist-{entry.request_id}", kind, outcome, entry.ticket, params)


def _expire_waitlist_entry(session: Session, state: _StockState, request: QueuedRequest) -> Outcome:
    """End a waiting entry whose time is up as sold out; a no-op if it was resolved already."""
    request_id = str(request.params["request_id"])
    entry = session.scalar(
        select(WaitlistEntry).where(
            WaitlistEntry.request_id == request_id, WaitlistEntry.sku == state.product.sku
        )
    )
    if entry is None:
        return {"outcome": "noop", "request_id": request_id, "reason": "unknown waitlist entry"}
    if entry.status != WaitlistStatus.WAITING:
        return {"outcome": "noop", "request_id": request_id, "reason": f"entry is {entry.status}"}
    if entry.expires_at > state.now:
        return {"outcome": "noop", "request_id": request_id, "reason": "entry not due yet"}
    _close_entry(state, entry, WaitlistStatus.EXPIRED, _waitlist_expired(state, entry), request.request_id)
    return {"outcome": "waitlist_expired", "request_id": request_id}


def _settle_waitlist(state: _StockState, effects: BatchEffects) -> None:
    """After the flush: record resolved entries' holds and results, and report the batch's changes."""
    seqs = {e.request_id: e.seq for e in state.journal}
    for entry, outcome in state.resolved:
        hold = outcome.pop("_hold", None)
        if hold is not None:
            outcome["hold_id"] = hold.id
            outcome["expires_at"] = hold.expires_at.isoformat()
            entry.hold_id = hold.id
        entry.result = json.dumps(outcome, sort_keys=True)
        seq = seqs.get(f"waitlist-{entry.request_id}")
        effects.waitlist_resolved.append(WaitlistResolution(entry.request_id, entry.cart_id, outcome, seq))
    effects.waitlist_joined.extend(
        (entry.request_id, entry.id) for entry in state.joined if entry.status == WaitlistStatus.WAITING
    )


def _republish_waitlist(session: Session, done: list[str], effects: BatchEffects) -> None:
    """Report again what an already applied batch did to the waitlist (its consumer died unpublished)."""
    entries = session.scalars(
        select(WaitlistEntry).where(
            or_(WaitlistEntry.resolved_by.in_(done), WaitlistEntry.request_id.in_(done))
        )
    ).all()
    seqs = recorded_seqs(session, [f"waitlist-{e.request_id}" for e in entries])
    for entry in entries:
        if entry.status == WaitlistStatus.WAITING:
            effects.waitlist_joined.append((entry.request_id, entry.id))
        elif entry.resolved_by in done and entry.result:
            seq = seqs.get(f"waitlist-{entry.request_id}")
            effects.waitlist_resolved.append(
                WaitlistResolution(entry.request_id, entry.cart_id, json.loads(entry.result), seq)
            )


def overdue_waitlist(session: Session, now: datetime, limit: int = 1000) -> list[tuple[str, str]]:
    """Return (request id, sku) of waiting entries past their time, oldest first."""
    rows = session.execute(
        select(WaitlistEntry.request_id, WaitlistEntry.sku)
        .where(WaitlistEntry.status == WaitlistStatus.WAITING, WaitlistEntry.expires_at <= now)
        .order_by(WaitlistEntry.expires_at)
        .limit(limit)
    )
    return [(request_id, sku) for request_id, sku in rows]


def _stock_after(session: Session, sku: str, state: _StockState | None) -> tuple[int, int] | None:
    """The SKU's (available, held) after the batch, for the waiting room's odds."""
    if state is not None:
        return state.available, state.reserved
    row = session.execute(
        select(Product.on_hand, Product.reserved, Product.allocated).where(Product.sku == sku)
    ).first()
    return None if row is None else (max(0, row.on_hand - row.reserved - row.allocated), row.reserved)


def _unseen(requests: Sequence[QueuedRequest], done: dict[str, Outcome]) -> list[QueuedRequest]:
    """Drop requests applied before, and repeats of one request within the batch."""
    seen = set(done)
    fresh = []
    for request in requests:
        if request.request_id not in seen:
            seen.add(request.request_id)
            fresh.append(request)
    return fresh


def _load_state(
    session: Session, sku: str, requests: Sequence[QueuedRequest], hold_ttl: timedelta, now: datetime
) -> _StockState | None:
    """Lock the product row, then the carts' current holds, in that fixed order."""
    product = session.scalar(select(Product).where(Product.sku == sku).with_for_update())
    if product is None:
        return None
    # Before anything is decided: a hold past its expiry holds nothing, whoever's it is.
    overdue = _expire_overdue_holds(session, sku, now)
    cart_ids = sorted({r.params["cart_id"] for r in requests if "cart_id" in r.params})
    created = _create_carts(session, cart_ids, now)
    # A cart created just now has no lines yet (holds refer to their cart): look up the others only.
    holds_by_cart, stale_carts = _cart_lines(session, sku, [c for c in cart_ids if c not in created])
    by_shopper: dict[str, int] = {}
    if product.max_per_customer:
        shoppers = {r.params.get("shopper") for r in requests} - {None, ""}
        by_shopper = customer_units(session, sku, shoppers)
    locations = {
        loc.location_code: [loc.priority, loc.on_hand, loc.reserved, loc.allocated]
        for loc in product.locations
    }
    state = _StockState(
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
            outcome: Outcome = {"outcome": "expired", "hold_id": hold_id, "sku": sku, "qty": qty}
            state.decided[job.request_id] = outcome
            state.note(job.request_id, job.kind, outcome, job.ticket, job.params)
            continue
        state.note(
            f"inline-expire-h{hold_id}",
            RequestKind.EXPIRE_HOLD,
            {"outcome": "expired", "hold_id": hold_id, "sku": sku, "qty": qty, "inline": True},
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


def _cart_lines(session: Session, sku: str, cart_ids: Sequence[str]) -> tuple[dict[str, Hold], set[str]]:
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


def _apply_one(session: Session, state: _StockState, request: QueuedRequest) -> Outcome:
    handlers = {
        RequestKind.HOLD: _place_hold,
        RequestKind.SET_QUANTITY: _set_hold_quantity,
        RequestKind.EXPIRE_HOLD: _expire_hold,
        RequestKind.SET_STOCK: _set_stock,
        RequestKind.HANDOFF: _hand_off,
        RequestKind.EXPIRE_WAITLIST: _expire_waitlist_entry,
        RequestKind.OPEN_SALE: _record_draw,
        RequestKind.RECEIVE: _receive,
        RequestKind.ALLOCATE: _allocate,
        RequestKind.SHIP: _ship,
    }
    handler = handlers.get(request.kind)
    if handler is None:
        return {"outcome": "rejected", "reason": f"unknown request kind {request.kind!r}"}
    return handler(session, state, request)


def _current_hold(session: Session, state: _StockState, cart_id: str) -> CartLine | None:
    """Return the cart's live hold on this SKU, expiring it first if its time is up."""
    hold = state.holds_by_cart.get(cart_id)
    if hold is None or hold.status != HoldStatus.ACTIVE:
        return None
    if hold.expires_at <= state.now:
        # Overdue but not yet expired by its job: return the units before deciding anew.
        hold.status = HoldStatus.EXPIRED
        hold.in_cart = False
        state.release_all(hold)
        del state.holds_by_cart[cart_id]
        state.count_units(hold.shopper_key, -hold.qty)
        state.note(
            f"inline-expire-h{hold.id}",
            RequestKind.EXPIRE_HOLD,
            {"outcome": "expired", "hold_id": hold.id, "sku": hold.sku, "qty": hold.qty, "inline": True},
            params={"hold_id": hold.id, "sku": hold.sku},
        )
        return None
    return hold


def _before_sale(state: _StockState) -> Outcome | None:
    """Refuse adding units before the product's sale starts, as the database says now.

    The admission script checks the same from Redis's cache, which a queued operator change may
    not have reached yet: this is the authority, the script only a fast filter.
    """
    starts = state.product.sale_starts_at
    if starts is None or starts <= state.now:
        return None
    return {"outcome": "sale_not_started", "sku": state.product.sku, "sale_starts_at": starts.isoformat()}


def _refusal(state: _StockState, wanted: int) -> Outcome:
    sku = state.product.sku
    if state.available <= 0:
        return {"outcome": "sold_out", "sku": sku, "available": 0}
    return {"outcome": "insufficient", "sku": sku, "available": state.available, "requested": wanted}


def _held(hold: CartLine, added: int, **extra: object) -> Outcome:
    outcome: Outcome = {
        "outcome": "held",
        "sku": hold.sku,
        "qty": hold.qty,
        "added": added,
        "hold_id": None,
        "expires_at": hold.expires_at.isoformat(),
        "uom": hold.uom,
        "uom_qty": hold.uom_qty,
        "_hold": hold,
    }
    outcome.update(extra)
    return outcome


def _customer_refusal(
    session: Session, state: _StockState, shopper: str | None, hold: CartLine | None, target: int
) -> Outcome | None:
    """Refuse when the shopper's units across carts would exceed the per-customer limit.

    ``target`` is what the cart's line would hold afterwards; its current units count as the
    shopper's own whoever added them, since the line is theirs after this request.
    """
    limit = state.customer_limit
    if not limit or not shopper:
        return None
    if shopper not in state.by_shopper:
        # A limit set by an operator's change earlier in this batch: count this shopper's units now.
        state.by_shopper.update(customer_units(session, state.product.sku, [shopper]))
    has = state.by_shopper.get(shopper, 0)
    in_line = hold.qty if hold is not None and hold.shopper_key == shopper else 0
    after = has - in_line + target
    if after <= limit or target <= in_line:
        return None
    return {
        "outcome": "customer_limit_exceeded",
        "sku": state.product.sku,
        "max_per_customer": limit,
        "customer_has": has,
    }


def _claim_line(state: _StockState, hold: CartLine, shopper: str | None, new_qty: int) -> None:
    """Count a cart line's units (now ``new_qty``) as the shopper's who last changed it."""
    state.count_units(hold.shopper_key, -hold.qty)
    if shopper:
        hold.shopper_key = shopper
    state.count_units(hold.shopper_key, new_qty)


def _dismiss_stale_lines(session: Session, state: _StockState, cart_id: str) -> None:
    """Take expired lines of this SKU out of the cart when the shopper acts on the SKU again."""
    if cart_id not in state.stale_carts:
        return  # nothing to dismiss: skip a statement (and the autoflush before it) per request
    state.stale_carts.discard(cart_id)
    session.execute(
        update(Hold)
        .where(
            Hold.cart_id == cart_id,
            Hold.sku == state.product.sku,
            Hold.in_cart.is_(True),
            Hold.status == HoldStatus.EXPIRED,
        )
        .values(in_cart=False)
        .execution_options(synchronize_session=False)
    )


def _new_hold(
    session: Session, state: _StockState, request: QueuedRequest, qty: int, uom: str, conversion: int
) -> NewHold:
    """Hold ``qty`` base units (entered as ``qty // conversion`` of ``uom``) at today's prices."""
    cart_id = request.params["cart_id"]
    _dismiss_stale_lines(session, state, cart_id)
    product = state.product
    hold = NewHold(
        cart_id=cart_id,
        sku=product.sku,
        qty=qty,
        expires_at=state.now + state.hold_ttl,
        request_id=request.request_id,
        shopper_key=request.params.get("shopper") or None,
        uom=uom,
        uom_qty=qty // conversion,
        conversion=conversion,
        unit_price=product.normal_price,
        price=current_price(product, state.now),
        locations=dump_locations(state.take(qty)),
        created_at=state.now,
        updated_at=state.now,
    )
    state.new_holds.append(hold)
    state.holds_by_cart[cart_id] = hold
    state.count_units(hold.shopper_key, qty)
    return hold


def _unit(state: _StockState, request: QueuedRequest) -> tuple[str, int] | None:
    """Return the request's unit and its conversion (the base unit if none was given); None if unknown."""
    uom = request.params.get("uom") or state.product.base_uom
    conversion = state.units.get(uom)
    return None if conversion is None else (uom, conversion)


def _entered_as(state: _StockState, hold: CartLine, uom: str, conversion: int) -> None:
    """Keep the line's quantity as entered: in its unit if all of it was, else in base units."""
    if hold.uom == uom and hold.conversion == conversion:
        hold.uom_qty = hold.qty // conversion
    else:
        hold.uom, hold.conversion, hold.uom_qty = state.product.base_uom, 1, hold.qty


def _unknown_unit(state: _StockState, request: QueuedRequest) -> Outcome:
    return {"outcome": "unknown_uom", "sku": state.product.sku, "uom": request.params.get("uom")}


def _place_hold(session: Session, state: _StockState, request: QueuedRequest) -> Outcome:
    """Add units to the cart's hold: all of them, or (if asked) as many whole units as are left."""
    unit = _unit(state, request)
    if unit is None:
        return _unknown_unit(state, request)
    uom, conversion = unit
    qty = int(request.params["qty"]) * conversion
    cart_id = request.params["cart_id"]
    allow_partial = bool(request.params.get("allow_partial", False))
    early = _before_sale(state)
    if early is not None:
        return early
    hold = _current_hold(session, state, cart_id)
    in_cart = hold.qty if hold else 0
    limit = state.product.max_per_cart
    if in_cart + qty > limit:
        return {
            "outcome": "limit_exceeded",
            "sku": state.product.sku,
            "max_per_cart": limit,
            "in_cart": in_cart,
        }
    shopper = request.params.get("shopper")
    refused = _customer_refusal(session, state, shopper, hold, in_cart + qty)
    if refused is not None:
        return refused
    granted = qty
    if state.available < qty:
        if not allow_partial or state.available <= 0:
            if request.params.get("waitlist") and state.waitlist_ttl and state.reserved > 0:
                # Sold out, but units held in carts may come back: wait for one, if asked to.
                return _join_waitlist(session, state, request, qty)
            return _refusal(state, qty)
        # Whole units of the unit asked for: a box is not split to fill a partial hold.
        granted = state.available // conversion * conversion
        if granted <= 0:
            return _refusal(state, qty)
    if hold is None:
        hold = _new_hold(session, state, request, granted, uom, conversion)
    else:
        # Adding to a hold keeps its expiry and prices: re-adding must not keep units forever.
        _claim_line(state, hold, shopper, hold.qty + granted)
        hold.qty += granted
        hold.updated_at = state.now
        state.reserve(hold, granted)
        _entered_as(state, hold, uom, conversion)
    extra = {"partial": True, "requested": qty} if granted < qty else {}
    return _held(hold, granted, **extra)


def _set_hold_quantity(session: Session, state: _StockState, request: QueuedRequest) -> Outcome:
    """Make the cart hold exactly ``qty`` units (of its ``uom``); 0 removes the line and returns its units."""
    unit = _unit(state, request)
    if unit is None:
        return _unknown_unit(state, request)
    uom, conversion = unit
    target = int(request.params["qty"]) * conversion
    cart_id = request.params["cart_id"]
    sku = state.product.sku
    hold = _current_hold(session, state, cart_id)
    current = hold.qty if hold else 0
    if target == 0:
        released = current
        if hold is not None:
            hold.status = HoldStatus.RELEASED
            hold.in_cart = False
            hold.updated_at = state.now
            state.release_all(hold)
            state.count_units(hold.shopper_key, -current)
            del state.holds_by_cart[cart_id]
        _dismiss_stale_lines(session, state, cart_id)
        return {"outcome": "released", "sku": sku, "qty": 0, "released": released}
    early = _before_sale(state) if target > current else None
    if early is not None:
        return early
    if target > state.product.max_per_cart:
        return {
            "outcome": "limit_exceeded",
            "sku": sku,
            "max_per_cart": state.product.max_per_cart,
            "in_cart": current,
        }
    shopper = request.params.get("shopper")
    refused = _customer_refusal(session, state, shopper, hold, target)
    if refused is not None:
        return refused
    delta = target - current
    if delta > state.available:
        return _refusal(state, delta)
    if hold is None:
        hold = _new_hold(session, state, request, target, uom, conversion)
        return _held(hold, target)
    _claim_line(state, hold, shopper, target)
    if delta > 0:
        state.reserve(hold, delta)
    else:
        state.unreserve(hold, -delta)
    hold.qty = target
    hold.uom, hold.conversion, hold.uom_qty = uom, conversion, target // conversion
    hold.updated_at = state.now
    return _held(hold, delta)


def _expire_hold(session: Session, state: _StockState, request: QueuedRequest) -> Outcome:
    """Return an overdue hold's units; a no-op if it was ordered, released or expired already."""
    hold_id = int(request.params["hold_id"])
    sku = state.product.sku
    hold = next((h for h in state.holds_by_cart.values() if h.id == hold_id), None)
    if hold is None:
        hold = session.scalar(select(Hold).where(Hold.id == hold_id, Hold.sku == sku).with_for_update())
    if hold is None:
        return {"outcome": "noop", "hold_id": hold_id, "reason": "unknown hold"}
    if hold.status != HoldStatus.ACTIVE:
        return {"outcome": "noop", "hold_id": hold_id, "reason": f"hold is {hold.status}"}
    if hold.expires_at > state.now:
        return {"outcome": "noop", "hold_id": hold_id, "reason": "hold not due yet"}
    hold.status = HoldStatus.EXPIRED
    hold.updated_at = state.now
    state.release_all(hold)
    state.count_units(hold.shopper_key, -hold.qty)
    state.holds_by_cart.pop(hold.cart_id, None)
    state.stale_carts.add(hold.cart_id)  # the line stays in the cart, shown as expired
    return {"outcome": "expired", "hold_id": hold_id, "sku": sku, "qty": hold.qty}


def _set_stock(session: Session, state: _StockState, request: QueuedRequest) -> Outcome:
    """Set the units on hand (an adjustment at one location), never below what is reserved or allocated.

    The difference is counted at ``params["location"]``, else at the SKU's first location by
    priority; it is an ADJ movement there.
    """
    from shop.domain.products import apply_fields

    on_hand = int(request.params["on_hand"])
    sku = state.product.sku
    code = request.params.get("location") or next(iter(state.locations), DEFAULT_LOCATION)
    delta = on_hand - state.on_hand
    loc = state.locations.get(code, [0, 0, 0, 0])
    if on_hand < state.reserved + state.allocated or loc[1] - loc[2] - loc[3] + delta < 0:
        return {
            "outcome": "conflict",
            "sku": sku,
            "on_hand": state.on_hand,
            "reserved": state.reserved + state.allocated,
            "requested": on_hand,
            "location": code,
        }
    if delta:
        state.move(
            code,
            delta,
            DocType.ADJUSTMENT,
            f"ADJ-{request.request_id[:24]}",
            abs(delta),
            state.product.base_uom,
            1,
        )
    fields = {k: v for k, v in request.params.get("fields", {}).items() if k in PRODUCT_DETAIL_FIELDS}
    for name, value in request.params.get("fields", {}).items():
        if name in ("max_per_cart", "max_per_customer", "sale_starts_at", "base_uom"):
            state.rules_changed = True
        if name == "max_per_customer":
            state.customer_limit = value or None
    # Moments travel as ISO text (the job and the ledger are JSON-friendly); apply_fields parses them.
    apply_fields(state.product, fields)
    return {
        "outcome": "stock_set",
        "sku": sku,
        "on_hand": on_hand,
        "reserved": state.reserved,
        "allocated": state.allocated,
        "available": state.available,
        "location": code,
    }


def _receive(session: Session, state: _StockState, request: QueuedRequest) -> Outcome:
    """Book a goods receipt: ``qty`` of ``uom`` arrive at a location (opened if new)."""
    unit = _unit(state, request)
    if unit is None:
        return _unknown_unit(state, request)
    uom, conversion = unit
    entered = int(request.params["qty"])
    code = str(request.params["location"])
    doc_ref = str(request.params.get("doc_ref") or f"GR-{request.request_id[:24]}")
    qty = entered * conversion
    state.move(code, qty, DocType.GOODS_RECEIPT, doc_ref, entered, uom, conversion)
    return {
        "outcome": "received",
        "sku": state.product.sku,
        "location": code,
        "qty": qty,
        "uom": uom,
        "uom_qty": entered,
        "doc_ref": doc_ref,
        "on_hand": state.on_hand,
        "available": state.available,
    }


def _order_holds(session: Session, state: _StockState, order_id: str, status: HoldStatus) -> list[Hold]:
    return list(
        session.scalars(
            select(Hold)
            .where(Hold.order_id == order_id, Hold.sku == state.product.sku, Hold.status == status)
            .order_by(Hold.id)
            .with_for_update()
        )
    )


def _allocate_holds(state: _StockState, holds: Sequence[Hold]) -> int:
    """Move paid holds' units from reserved to allocated where they are; return the units."""
    units = 0
    for hold in holds:
        for code, qty in parse_locations(hold.locations).items():
            loc = state.locations[code]
            loc[2] -= qty
            loc[3] += qty
        state.reserved -= hold.qty
        state.allocated += hold.qty
        state.sales += hold.qty
        hold.status = HoldStatus.SOLD
        hold.updated_at = state.now
        units += hold.qty
    return units


def _allocate(session: Session, state: _StockState, request: QueuedRequest) -> Outcome:
    """A paid order's units of this SKU: reserved -> allocated (they stay on hand until shipped)."""
    order_id = str(request.params["order_id"])
    holds = _order_holds(session, state, order_id, HoldStatus.PAID)
    if not holds:
        return {"outcome": "noop", "order_id": order_id, "reason": "nothing paid to allocate"}
    qty = _allocate_holds(state, holds)
    return {"outcome": "allocated", "sku": state.product.sku, "order_id": order_id, "qty": qty}


def _ship(session: Session, state: _StockState, request: QueuedRequest) -> Outcome:
    """Issue a paid order's units of this SKU (a GI movement per location): allocated and on hand drop."""
    order_id = str(request.params["order_id"])
    # Lock the order first: the lanes of its other SKUs settle its status one after the other.
    order = session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None or order.status not in (OrderStatus.PAID, OrderStatus.SHIPPED):
        return {"outcome": "noop", "order_id": order_id, "reason": "order is not paid"}
    late = _order_holds(session, state, order_id, HoldStatus.PAID)
    if late:
        # Its allocation has not come through the line yet (or was lost): allocate first.
        qty = _allocate_holds(state, late)
        outcome = {"outcome": "allocated", "sku": state.product.sku, "order_id": order_id, "qty": qty}
        state.note(f"allocate-{order_id}-{state.product.sku}", RequestKind.ALLOCATE, outcome)
    holds = _order_holds(session, state, order_id, HoldStatus.SOLD)
    if not holds:
        return {"outcome": "noop", "order_id": order_id, "reason": "nothing left to ship"}
    shipped = 0
    for hold in holds:
        for code, qty in parse_locations(hold.locations).items():
            state.locations[code][3] -= qty
            state.move(
                code,
                -qty,
                DocType.GOODS_ISSUE,
                order.order_no,
                qty // hold.conversion,
                hold.uom,
                hold.conversion,
            )
        state.allocated -= hold.qty
        hold.status = HoldStatus.SHIPPED
        hold.updated_at = state.now
        shipped += hold.qty
    session.execute(
        update(OrderLine)
        .where(OrderLine.order_id == order_id, OrderLine.hold_id.in_([h.id for h in holds]))
        .values(shipped_at=state.now)
        .execution_options(synchronize_session=False)
    )
    unshipped = session.scalar(
        select(func.count())
        .select_from(OrderLine)
        .where(OrderLine.order_id == order_id, OrderLine.shipped_at.is_(None))
    )
    if not unshipped:
        order.status = OrderStatus.SHIPPED
        order.updated_at = state.now
    return {
        "outcome": "shipped",
        "sku": state.product.sku,
        "order_id": order_id,
        "order_no": order.order_no,
        "qty": shipped,
        "order_status": order.status,
    }


def _hand_off(session: Session, state: _StockState, request: QueuedRequest) -> Outcome:
    """Take in units an expired order returned: its shoppers' counts change, the stock is re-read."""
    order_id = str(request.params.get("order_id", ""))
    shoppers = session.scalars(
        select(Hold.shopper_key)
        .join(OrderLine, OrderLine.hold_id == Hold.id)
        .where(OrderLine.order_id == order_id, OrderLine.sku == state.product.sku)
    )
    for shopper in shoppers:
        state.count_units(shopper, 0)
    sku = state.product.sku
    return {"outcome": "handoff", "sku": sku, "order_id": order_id, "available": state.available}


def _record_draw(session: Session, state: _StockState, request: QueuedRequest) -> Outcome:
    """Record a sale's opening: the seed and the tickets its pre-queue was drawn into (for the audit)."""
    params = request.params
    return {
        "outcome": "sale_opened",
        "sku": state.product.sku,
        "seed": int(params["seed"]),
        "start_ms": int(params["start_ms"]),
        "count": int(params.get("count", 0)),
        "first_ticket": int(params.get("first_ticket", 0)),
    }


def _write_stock(session: Session, state: _StockState) -> None:
    """Write the batch's net change (totals, each location, movements) as guarded SQL expressions."""
    product = state.product
    d_reserved = state.reserved - state.started_totals[0]
    d_on_hand = state.on_hand - state.started_totals[1]
    d_allocated = state.allocated - state.started_totals[2]
    if d_reserved or d_on_hand or d_allocated or state.sales:
        result = session.execute(
            update(Product)
            .where(
                Product.sku == product.sku,
                Product.reserved + d_reserved >= 0,
                Product.allocated + d_allocated >= 0,
                Product.reserved + d_reserved + Product.allocated + d_allocated
                <= Product.on_hand + d_on_hand,
            )
            .values(
                reserved=Product.reserved + d_reserved,
                on_hand=Product.on_hand + d_on_hand,
                allocated=Product.allocated + d_allocated,
                sales=Product.sales + state.sales,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise RuntimeError(f"stock guard refused the batch for {product.sku}; row changed under lock")
    deltas = {}
    for code, (priority, on_hand, reserved, allocated) in state.locations.items():
        before = state.started.get(code)
        if before is None:
            session.add(
                StockLocation(
                    sku=product.sku,
                    location_code=code,
                    priority=priority,
                    on_hand=0,
                    reserved=0,
                    allocated=0,
                    created_at=state.now,
                    updated_at=state.now,
                )
            )
            before = (0, 0, 0)
        deltas[code] = Delta(on_hand - before[0], reserved - before[1], allocated - before[2])
    if len(state.locations) > len(state.started):
        session.flush()
    change_locations(session, product.sku, deltas, state.now)
    record_movements(session, state.movements)
    _write_new_holds(session, state)


@dataclass(slots=True, eq=False)
class NewHold:
    """A hold the batch created: a plain object, not an ORM one, until the batch writes it.

    The ORM's unit of work (instrumented attributes, identity map, flush) cost more per hold than
    the decision itself (issue 11's and issue 21's profiles), and nothing in a batch needs the new
    holds tracked: every later request of the batch that changes one changes this object before the
    batch writes it (``_write_new_holds``), with the attributes a ``Hold`` has.
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

# A new hold's own values; its SKU and moments are the batch's (bound once).
_NEW_HOLDS = BulkInsert(
    Hold.__table__,
    columns=(
        "request_id",
        "cart_id",
        "qty",
        "status",
        "in_cart",
        "shopper_key",
        "uom",
        "uom_qty",
        "conversion",
        "unit_price",
        "price",
        "locations",
    ),
    constants=("sku", "expires_at", "created_at", "updated_at"),
    returning=("request_id", "id"),
)


def _write_new_holds(session: Session, state: _StockState) -> None:
    """Insert the batch's new holds in one set-based statement and give each object its id."""
    holds = state.new_holds
    if not holds:
        return
    expires_at = holds[0].expires_at
    rows = []
    for h in holds:
        if h.expires_at != expires_at or h.created_at != state.now or h.updated_at != state.now:
            raise RuntimeError(f"{h.request_id}: a new hold's moments are the batch's")
        rows.append(
            (
                h.request_id,
                h.cart_id,
                h.qty,
                h.status,
                h.in_cart,
                h.shopper_key,
                h.uom,
                h.uom_qty,
                h.conversion,
                h.unit_price,
                h.price,
                h.locations,
            )
        )
    ids = dict(
        _NEW_HOLDS.execute(
            session,
            rows,
            sku=state.product.sku,
            expires_at=expires_at,
            created_at=state.now,
            updated_at=state.now,
        )
    )
    for hold in holds:
        hold.id = ids[hold.request_id]


def _fill_hold_ids(applied: Sequence[tuple[QueuedRequest, Outcome]]) -> None:
    """Replace the in-memory hold references with their ids once the flush assigned them."""
    for _request, outcome in applied:
        hold = outcome.pop("_hold", None)
        if hold is not None:
            outcome["hold_id"] = hold.id
            outcome["expires_at"] = hold.expires_at.isoformat()


def overdue_holds(session: Session, now: datetime, limit: int = 1000) -> list[tuple[int, str]]:
    """Return (hold id, sku) of active holds past their expiry, oldest first."""
    rows = session.execute(
        select(Hold.id, Hold.sku)
        .where(Hold.status == HoldStatus.ACTIVE, Hold.expires_at <= now)
        .order_by(Hold.expires_at)
        .limit(limit)
    )
    return [(hold_id, sku) for hold_id, sku in rows]
