"""Holds: a cart's line of one SKU placed, changed, released or expired, within a SKU's batch.

Every function here decides one request against the batch's running figures (``StockState``);
none writes stock itself: the batch writes its net change once (shop.domain.stock_write).
"""

from __future__ import annotations

from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.orm import Session

from shop.domain.locations import dump_locations
from shop.domain.pricing import current_price
from shop.domain.requests import Outcome, OutcomeDict, QueuedRequest, RequestKind
from shop.domain.stock_state import (
    CartLine,
    NewHold,
    StockState,
    customer_units,
    not_due,
    refusal,
    request_unit,
    unknown_unit,
)
from shop.domain.waitlist import join_waitlist
from shop.storage.models import (
    Hold,
    HoldStatus,
)


def _current_hold(session: Session, state: StockState, cart_id: str) -> CartLine | None:
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
            {
                "outcome": Outcome.EXPIRED,
                "hold_id": hold.id,
                "sku": hold.sku,
                "qty": hold.qty,
                "inline": True,
            },
            params={"hold_id": hold.id, "sku": hold.sku},
        )
        return None
    return hold


def _before_sale(state: StockState) -> OutcomeDict | None:
    """Refuse adding units before the product's sale starts, as the database says now.

    The admission script checks the same from Redis's cache, which a queued operator change may
    not have reached yet: this is the authority, the script only a fast filter.
    """
    starts = state.product.sale_starts_at
    if starts is None or starts <= state.now:
        return None
    return {
        "outcome": Outcome.SALE_NOT_STARTED,
        "sku": state.product.sku,
        "sale_starts_at": starts.isoformat(),
    }


def _held(hold: CartLine, added: int, **extra: object) -> OutcomeDict:
    """The outcome of a hold placed or changed; the hold's id is filled in once the batch writes it."""
    outcome: OutcomeDict = {
        "outcome": Outcome.HELD,
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
    session: Session, state: StockState, shopper: str | None, hold: CartLine | None, target: int
) -> OutcomeDict | None:
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
        "outcome": Outcome.CUSTOMER_LIMIT_EXCEEDED,
        "sku": state.product.sku,
        "max_per_customer": limit,
        "customer_has": has,
    }


def _claim_line(state: StockState, hold: CartLine, shopper: str | None, new_qty: int) -> None:
    """Count a cart line's units (now ``new_qty``) as the shopper's who last changed it."""
    state.count_units(hold.shopper_key, -hold.qty)
    if shopper:
        hold.shopper_key = shopper
    state.count_units(hold.shopper_key, new_qty)


def _dismiss_stale_lines(session: Session, state: StockState, cart_id: str) -> None:
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
    session: Session, state: StockState, request: QueuedRequest, qty: int, uom: str, conversion: int
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


def _entered_as(state: StockState, hold: CartLine, uom: str, conversion: int) -> None:
    """Keep the line's quantity as entered: in its unit if all of it was, else in base units."""
    if hold.uom == uom and hold.conversion == conversion:
        hold.uom_qty = hold.qty // conversion
    else:
        hold.uom, hold.conversion, hold.uom_qty = state.product.base_uom, 1, hold.qty


def _asked(state: StockState, request: QueuedRequest) -> tuple[str, int, int, str] | None:
    """Return the unit asked in, its conversion, the base units asked for and the cart; None: unknown unit."""
    unit = request_unit(state, request)
    if unit is None:
        return None
    uom, conversion = unit
    return uom, conversion, int(request.params["qty"]) * conversion, request.params["cart_id"]


def place_hold(session: Session, state: StockState, request: QueuedRequest) -> OutcomeDict:
    """Add units to the cart's hold: all of them, or (if asked) as many whole units as are left."""
    asked = _asked(state, request)
    if asked is None:
        return unknown_unit(state, request)
    uom, conversion, qty, cart_id = asked
    allow_partial = bool(request.params.get("allow_partial", False))
    early = _before_sale(state)
    if early is not None:
        return early
    hold = _current_hold(session, state, cart_id)
    in_cart = hold.qty if hold else 0
    limit = state.product.max_per_cart
    if in_cart + qty > limit:
        return {
            "outcome": Outcome.LIMIT_EXCEEDED,
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
                return join_waitlist(session, state, request, qty)
            return refusal(state, qty)
        # Whole units of the unit asked for: a box is not split to fill a partial hold.
        granted = state.available // conversion * conversion
        if granted <= 0:
            return refusal(state, qty)
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


def set_hold_quantity(session: Session, state: StockState, request: QueuedRequest) -> OutcomeDict:
    """Make the cart hold exactly ``qty`` units (of its ``uom``); 0 removes the line and returns its units."""
    sku = state.product.sku
    asked = _asked(state, request)
    if asked is None:
        return unknown_unit(state, request)
    uom, conversion, target, cart_id = asked
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
        return {"outcome": Outcome.RELEASED, "sku": sku, "qty": 0, "released": released}
    early = _before_sale(state) if target > current else None
    if early is not None:
        return early
    if target > state.product.max_per_cart:
        return {
            "outcome": Outcome.LIMIT_EXCEEDED,
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
        return refusal(state, delta)
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


def expire_hold(session: Session, state: StockState, request: QueuedRequest) -> OutcomeDict:
    """Return an overdue hold's units; a no-op if it was ordered, released or expired already."""
    hold_id = int(request.params["hold_id"])
    sku = state.product.sku
    hold = next((h for h in state.holds_by_cart.values() if h.id == hold_id), None)
    if hold is None:
        hold = session.scalar(select(Hold).where(Hold.id == hold_id, Hold.sku == sku).with_for_update())
    early = not_due(state, hold, HoldStatus.ACTIVE, ("hold_id", hold_id), "hold", "hold")
    if early is not None:
        return early
    hold.status = HoldStatus.EXPIRED
    hold.updated_at = state.now
    state.release_all(hold)
    state.count_units(hold.shopper_key, -hold.qty)
    state.holds_by_cart.pop(hold.cart_id, None)
    state.stale_carts.add(hold.cart_id)  # the line stays in the cart, shown as expired
    return {"outcome": Outcome.EXPIRED, "hold_id": hold_id, "sku": sku, "qty": hold.qty}
