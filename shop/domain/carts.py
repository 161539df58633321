"""Cart identity and the cart's read side.

A cart token is a random id signed with the app's secret: the web tier can tell a token it issued
from a forged one without a database or Redis lookup, and the database row is created by the
consumer on the cart's first applied request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, Signer
from sqlalchemy import select
from sqlalchemy.orm import Session

from shop.domain.errors import Malformed, NotFound
from shop.domain.pricing import discount_pct
from shop.storage.models import Hold, HoldStatus, Order, OrderStatus, Product, utcnow

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{10,64}$")


class CartTokens:
    """Issue and verify signed cart tokens."""

    def __init__(self, secret_key: str) -> None:
        self._signer = Signer(secret_key, salt="cart-token")

    def issue(self) -> tuple[str, str]:
        """Return a new (token, cart id) pair."""
        raw = secrets.token_urlsafe(18)
        return self._signer.sign(raw).decode(), self.cart_id(raw)

    def verify(self, token: str) -> str:
        """Return the cart id for a token: 400 if malformed, 404 if not one of ours."""
        if not TOKEN_PATTERN.match(token):
            raise Malformed("X-Cart-Token is malformed.", code="invalid_cart_token")
        try:
            raw = self._signer.unsign(token).decode()
        except BadSignature:
            raise NotFound("Unknown cart.", code="unknown_cart") from None
        if self._signer.sign(raw).decode() != token:
            # base64 has spare bits: only the exact token we issued names the cart.
            raise NotFound("Unknown cart.", code="unknown_cart")
        return self.cart_id(raw)

    @staticmethod
    def cart_id(raw: str) -> str:
        """Derive the stored cart id; the database never holds the bearer token itself."""
        return hashlib.sha256(raw.encode()).hexdigest()[:40]


def cart_view(session: Session, cart_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Return the cart's lines (held and expired), totals and open orders."""
    now = now or utcnow()
    rows = session.execute(
        select(Hold, Product.name)
        .join(Product, Product.sku == Hold.sku)
        .where(Hold.cart_id == cart_id, Hold.in_cart.is_(True))
        .order_by(Hold.created_at, Hold.id)
    ).all()
    items = []
    total = 0
    for hold, name in rows:
        live = hold.status == HoldStatus.ACTIVE and hold.expires_at > now
        # The prices the hold fixed when it was taken (a flash price stays the shopper's).
        line_total = hold.qty * hold.price
        if live:
            total += line_total
        items.append(
            {
                "sku": hold.sku,
                "name": name,
                "qty": hold.qty,
                "uom": hold.uom,
                "uom_qty": hold.uom_qty,
                "unit_price": hold.price,
                "normal_price": hold.unit_price,
                "discount_pct": discount_pct(hold.unit_price, hold.price),
                "line_total": line_total,
                "status": "held" if live else "expired",
                "expires_at": hold.expires_at.isoformat(),
                "seconds_left": max(0, int((hold.expires_at - now).total_seconds())) if live else 0,
            }
        )
    orders = session.scalars(
        select(Order)
        .where(Order.cart_id == cart_id, Order.status == OrderStatus.PENDING_PAYMENT, Order.pay_before > now)
        .order_by(Order.created_at)
    ).all()
    return {
        "items": items,
        "total": total,
        "currency": "IDR",
        "open_orders": [
            {
                "order_id": o.id,
                "order_no": o.order_no,
                "total": o.total,
                "pay_before": o.pay_before.isoformat(),
            }
            for o in orders
        ],
    }
