"""The synchronous checkout most shops run: the hold is decided inside the web request.

Two routes on the shop's own schema and database, served by gunicorn with the Procfile's settings
as ``bench.sync_app:create_app()`` (bench only, not part of the shop):

* ``POST /hold``: ``SELECT ... FOR UPDATE`` on the product row, then the update and the hold
  insert, in one transaction per request. Correct, but every request for a hot SKU queues on
  one row lock while holding a web thread and a database connection.
* ``POST /hold-naive``: read the stock, check it in Python, write back what was read plus one.
  No lock: concurrent requests read the same figure and each take "the last unit". It exists to
  show the oversell this project prevents; do not copy it.

Each answer carries ``X-Bench-Started`` and ``X-Bench-Decided`` (wall clock, after the commit): the
bench's decided requests per second come from them, as the shop's come from its job hashes.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta

from flask import Flask, Response, jsonify, request
from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from config import config_from_env
from shop.storage.db import make_engine
from shop.storage.models import Cart, Hold, HoldStatus, Product, utcnow

HOLD_TTL = timedelta(minutes=10)


def create_app() -> Flask:
    """Build the two-route app on DATABASE_URL (PostgreSQL: it needs row locks)."""
    config = config_from_env()
    engine = make_engine(config.DATABASE_URL)
    app = Flask(__name__)

    def _hold(sku: str, qty: int, locked: bool) -> dict:
        now = utcnow()
        cart_id = secrets.token_hex(20)
        with engine.begin() as conn:
            conn.execute(pg_insert(Cart).values(id=cart_id, created_at=now).on_conflict_do_nothing())
            query = select(Product.on_hand, Product.reserved).where(Product.sku == sku)
            row = conn.execute(query.with_for_update() if locked else query).one_or_none()
            if row is None:
                return {"outcome": "unknown_sku", "sku": sku}
            on_hand, reserved = row
            if on_hand - reserved < qty:
                return {"outcome": "sold_out", "sku": sku, "available": on_hand - reserved}
            if locked:
                change = update(Product).where(Product.sku == sku).values(reserved=Product.reserved + qty)
            else:
                change = update(Product).where(Product.sku == sku).values(reserved=reserved + qty)
            conn.execute(change)
            hold_id = conn.execute(
                insert(Hold).returning(Hold.id),
                {
                    "cart_id": cart_id,
                    "sku": sku,
                    "qty": qty,
                    "status": HoldStatus.ACTIVE,
                    "in_cart": True,
                    "expires_at": now + HOLD_TTL,
                    "request_id": f"sync-{cart_id}",
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
        return {"outcome": "held", "sku": sku, "qty": qty, "hold_id": hold_id}

    @app.get("/")
    def up() -> str:
        return "ok"

    def _timed(locked: bool) -> Response:
        """Decide one request, saying when it was taken up and decided (the bench's decided/s)."""
        started = time.time()
        body = request.get_json(force=True)
        response = jsonify(_hold(body["sku"], int(body["qty"]), locked=locked))
        response.headers["X-Bench-Started"] = f"{started:.6f}"
        response.headers["X-Bench-Decided"] = f"{time.time():.6f}"
        return response

    @app.post("/hold")
    def hold() -> Response:
        return _timed(locked=True)

    @app.post("/hold-naive")
    def hold_naive() -> Response:
        return _timed(locked=False)

    return app
