"""The waitlist of a SKU: a sold-out request that asked to wait, while units are held in carts.

Entries are created and resolved only by the SKU's batch, under its product row lock: the oldest
waiting entries get returned units before the next request in line is decided (shop.domain.inventory).
"""

from __future__ import annotations

import json

from sqlalchemy import (
    or_,
    select,
)
from sqlalchemy.orm import Session

from shop.domain.effects import BatchEffects, WaitlistResolution
from shop.domain.ledger import (
    recorded_seqs,
)
from shop.domain.requests import Outcome, OutcomeDict, QueuedRequest
from shop.domain.stock_state import StockState, cart_lines, customer_units, not_due, refusal
from shop.domain.stock_write import fill_hold_id
from shop.storage.models import (
    WaitlistEntry,
    WaitlistStatus,
)


def waiting_entries(session: Session, state: StockState) -> list[WaitlistEntry]:
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
        holds, stale = cart_lines(session, sku, carts)
        for cart_id, hold in holds.items():
            state.holds_by_cart.setdefault(cart_id, hold)
        state.stale_carts |= stale
        if state.customer_limit:
            shoppers = {e.shopper_key for e in state.waitlist if e.shopper_key} - set(state.by_shopper)
            state.by_shopper.update(customer_units(session, sku, shoppers))
    return state.waitlist


def join_waitlist(session: Session, state: StockState, request: QueuedRequest, qty: int) -> OutcomeDict:
    """Keep a sold-out request waiting for a unit held in a cart to come back."""
    assert state.waitlist_ttl is not None
    entries = waiting_entries(session, state)
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
        "outcome": Outcome.WAITLISTED,
        "sku": state.product.sku,
        "qty": qty,
        "waitlist_position": ahead,
        "expires_at": entry.expires_at.isoformat(),
    }


def waitlist_expired(state: StockState, entry: WaitlistEntry) -> OutcomeDict:
    """The outcome of an entry whose wait ended without a unit: sold out, as it was when it joined."""
    return {**refusal(state, entry.qty), "waitlist_expired": True}


def close_entry(
    state: StockState, entry: WaitlistEntry, status: WaitlistStatus, outcome: OutcomeDict, trigger: str
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


def expire_waitlist_entry(session: Session, state: StockState, request: QueuedRequest) -> OutcomeDict:
    """End a waiting entry whose time is up as sold out; a no-op if it was resolved already."""
    request_id = str(request.params["request_id"])
    entry = session.scalar(
        select(WaitlistEntry).where(
            WaitlistEntry.request_id == request_id, WaitlistEntry.sku == state.product.sku
        )
    )
    early = not_due(
        state, entry, WaitlistStatus.WAITING, ("request_id", request_id), "waitlist entry", "entry"
    )
    if early is not None:
        return early
    close_entry(state, entry, WaitlistStatus.EXPIRED, waitlist_expired(state, entry), request.request_id)
    return {"outcome": Outcome.WAITLIST_EXPIRED, "request_id": request_id}


def settle_waitlist(state: StockState, effects: BatchEffects) -> None:
    """After the flush: record resolved entries' holds and results, and report the batch's changes."""
    seqs = {e.request_id: e.seq for e in state.journal}
    for entry, outcome in state.resolved:
        hold = fill_hold_id(outcome)
        if hold is not None:
            entry.hold_id = hold.id
        entry.result = json.dumps(outcome, sort_keys=True)
        seq = seqs.get(f"waitlist-{entry.request_id}")
        effects.resolve(WaitlistResolution(entry.request_id, entry.cart_id, outcome, seq))
    effects.waitlist_joined.extend(
        (entry.request_id, entry.id) for entry in state.joined if entry.status == WaitlistStatus.WAITING
    )


def republish_waitlist(session: Session, done: list[str], effects: BatchEffects) -> None:
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
            effects.resolve(
                WaitlistResolution(entry.request_id, entry.cart_id, json.loads(entry.result), seq)
            )
