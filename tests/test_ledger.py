"""Receipts, and the per-SKU ledger: each decision numbered with the stock after it, replayed by the audit."""

from __future__ import annotations

import json
import random
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update

from shop.domain.ledger import replay
from shop.lanes.admission import request_receipt
from shop.lanes.expiry import sweep
from shop.storage.migrate import upgrade
from shop.storage.models import AppliedRequest, Hold, HoldStatus, Product, WaitlistEntry
from tests.helpers import audit_report, finished_job, ledger, wait_until
from tests.http_server import call, serve


def test_every_decision_gets_the_next_sequence_number_and_the_figures_after_it(
    services, shopper, new_shopper, make_product, drain
):
    make_product("LED-1", on_hand=3, max_per_cart=3)
    shopper.add("LED-1", 2)
    other = new_shopper()
    other.add("LED-1", 2)  # only 1 left: refused, but still an entry of the ledger
    other.add("LED-1", 1)
    shopper.set_qty("LED-1", 0)
    drain()

    rows = ledger(services, "LED-1")
    assert [row.seq for row in rows] == [1, 2, 3, 4, 5]
    assert [json.loads(row.outcome)["outcome"] for row in rows] == [
        "created",
        "held",
        "insufficient",
        "held",
        "released",
    ]
    assert [(row.on_hand_after, row.reserved_after) for row in rows] == [
        (3, 0),
        (3, 2),
        (3, 2),
        (3, 3),
        (3, 1),
    ]
    params = json.loads(rows[1].params)
    assert {k: params[k] for k in ("allow_partial", "qty", "sku")} == {
        "allow_partial": False,
        "qty": 2,
        "sku": "LED-1",
    }
    assert params.keys() == {"allow_partial", "cart_id", "qty", "shopper", "sku"}
    assert [row.ticket for row in rows[1:]] == [1, 2, 3, 4]
    report = audit_report(services)
    assert report.ok, report.violations
    assert report.ledger_entries == 5


def test_payments_and_order_expiries_append_entries_to_each_skus_ledger(
    services, shopper, new_shopper, make_product, drain
):
    make_product("LED-2", on_hand=5)
    shopper.add("LED-2", 2)
    drain()
    assert shopper.pay(order_id_of(shopper, drain), amount=200_000).status_code == 200
    drain()  # the SKU's lane allocates the paid units: reserved down, on hand unchanged until shipped

    rows = ledger(services, "LED-2")
    sold = rows[-1]
    assert json.loads(sold.outcome)["outcome"] == "allocated"
    assert sold.request_id.startswith("allocate-") and sold.lane == "sku:LED-2"
    assert (sold.on_hand_after, sold.reserved_after) == (5, 0)

    late = new_shopper()
    late.add("LED-2", 1)
    drain()
    late.checkout()
    drain()
    with services.db.writing() as session, session.begin():
        session.execute(
            text("UPDATE orders SET pay_before = :t WHERE status = 'pending_payment'"), {"t": "2000-01-01"}
        )
    assert sweep(services.db, services.lanes, services.config.CHECKOUT_LANES)["orders"] == 1
    drain()
    rows = ledger(services, "LED-2")
    returned = next(r for r in rows if json.loads(r.outcome)["outcome"] == "order_units_returned")
    assert returned.request_id.startswith("order-expired-h")
    assert (returned.on_hand_after, returned.reserved_after) == (5, 0)
    # The SKU's line then hears of it (a hand-off request), after the units came back.
    assert json.loads(rows[-1].outcome)["outcome"] == "handoff" and rows[-1].seq == returned.seq + 1
    report = audit_report(services)
    assert report.ok, report.violations


def order_id_of(shopper, drain) -> str:
    """Check out (again, idempotently) and return the order id."""
    accepted = shopper.checkout(key="ledger-order")
    drain()
    return shopper.result(accepted)["order_id"]


def test_the_audit_finds_a_stock_change_the_ledger_does_not_record(services, shopper, make_product, drain):
    make_product("LED-3", on_hand=5)
    shopper.add("LED-3", 1)
    drain()
    with services.db.writing() as session, session.begin():
        session.execute(update(Product).where(Product.sku == "LED-3").values(on_hand=7))

    report = audit_report(services)

    assert not report.ok
    assert any("LED-3 ledger: replay ends at" in v for v in report.violations), report.violations


def test_the_audit_finds_an_entry_whose_figures_do_not_follow_from_the_one_before(
    services, shopper, make_product, drain
):
    make_product("LED-4", on_hand=5)
    shopper.add("LED-4", 2)
    drain()
    with services.db.writing() as session, session.begin():
        session.execute(
            update(AppliedRequest)
            .where(AppliedRequest.sku == "LED-4", AppliedRequest.seq == 2)
            .values(outcome=json.dumps({"outcome": "held", "added": 1}))
        )

    report = audit_report(services)

    assert any("LED-4 ledger: entry 2" in v for v in report.violations), report.violations


@pytest.mark.pure
def test_replaying_an_entry_applies_what_its_outcome_says():
    assert replay(None, {"outcome": "created", "on_hand": 5, "reserved": 0}) == (5, 0)
    assert replay((5, 0), {"outcome": "held", "added": 2}) == (5, 2)
    assert replay((5, 2), {"outcome": "held", "added": -1}) == (5, 1)  # a quantity lowered
    assert replay((5, 1), {"outcome": "released", "released": 1}) == (5, 0)
    assert replay((5, 3), {"outcome": "expired", "qty": 3}) == (5, 0)
    assert replay((5, 3), {"outcome": "sold", "qty": 2}) == (3, 1)
    assert replay((5, 3), {"outcome": "stock_set", "on_hand": 9}) == (9, 3)
    assert replay((5, 3), {"outcome": "sold_out", "available": 0}) == (5, 3)
    assert replay(None, {"outcome": "held", "added": 1}) is None


def test_a_finished_request_has_a_receipt_its_cart_can_read(
    services, shopper, new_shopper, make_product, drain
):
    make_product("LED-5", on_hand=5)
    new_shopper().add("LED-5", 1)
    accepted = shopper.add("LED-5", 2)
    drain()

    response = shopper.client.get(f"/jobs/{accepted.get_json()['job_id']}/receipt", headers=shopper.headers)

    assert response.status_code == 200
    receipt = response.get_json()
    assert receipt["sku"] == "LED-5"
    assert receipt["ticket"] == 2
    assert receipt["position_when_joined"] == 1
    assert receipt["outcome"]["outcome"] == "held" and receipt["outcome"]["qty"] == 2
    assert receipt["enqueued_at"] <= receipt["applied_at"]
    row = next(r for r in ledger(services, "LED-5") if r.request_id == accepted.get_json()["job_id"])
    assert receipt["ledger_seq"] == row.seq == 3


def test_a_receipt_is_only_for_its_cart_and_only_once_decided(
    services, shopper, new_shopper, make_product, drain
):
    make_product("LED-6", on_hand=5)
    job_id = shopper.add("LED-6", 1).get_json()["job_id"]

    waiting = shopper.client.get(f"/jobs/{job_id}/receipt", headers=shopper.headers)
    assert waiting.status_code == 409
    assert waiting.get_json()["error"]["code"] == "not_finished"

    drain()
    stranger = new_shopper()
    stranger.cart()
    assert stranger.client.get(f"/jobs/{job_id}/receipt", headers=stranger.headers).status_code == 404
    assert shopper.client.get(f"/jobs/{job_id}/receipt", headers=shopper.headers).status_code == 200


def test_existing_products_get_an_opening_entry_when_the_ledger_migration_runs():
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'old.db'}"
        upgrade(url, "0001")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO products (sku, name, description, category, price, image, on_hand, "
                    "reserved, sales, max_per_cart, created_at) VALUES ('OLD-1', 'Old', '', 'home', 1, '', "
                    "9, 0, 0, 5, '2026-01-01 00:00:00')"
                )
            )
        upgrade(url)
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT seq, kind, on_hand_after, reserved_after FROM applied_requests "
                    "WHERE sku = 'OLD-1'"
                )
            ).one()
        engine.dispose()
    assert tuple(row) == (1, "opening_balance", 9, 0)


# --- a storm ---------------------------------------------------------------------------------------

STORM_UNITS = 25
STORM_CARTS = 60
STORM_PAIR = 2  # pieces in a pair of STORM-1 (its uom "pair", conversion 2)


def _storm_cart(host: str, index: int) -> None:
    """One shopper: add a piece or a pair (some join the waitlist), then change, drop, buy or leave."""
    rng = random.Random(index)
    pair = rng.choice([False, False, True])
    request = {
        "sku": "STORM-1",
        "qty": 1,
        "waitlist": rng.random() < 0.3,
        **({"uom": "pair"} if pair else {}),
    }
    status, headers, body = call(host, "POST", "/chart", request)
    assert status == 202, body
    token = {"X-Cart-Token": headers["X-Cart-Token"]}
    job = finished_job(host, body["job_id"], token)
    if job["result"]["outcome"] != "held":
        return
    roll = rng.random()
    if roll < 0.2:
        status, _h, body = call(host, "PUT", "/chart/STORM-1/0", headers=token)
        assert status == 202, body
        released = finished_job(host, body["job_id"], token)["result"]
        # Its hold (2 s) may have expired first: then there was nothing left to release. "released"
        # counts pieces, so a pair's hold gives back two.
        pieces = request["qty"] * (STORM_PAIR if pair else 1)
        assert released["outcome"] == "released" and released["released"] in (0, pieces), released
    elif roll < 0.6:
        status, _h, checkout = call(host, "POST", "/checkout", headers={**token, "Idempotency-Key": "storm"})
        assert status == 202, checkout
        order = finished_job(host, checkout["job_id"], token)["result"]
        assert order["outcome"] in ("order_created", "holds_expired"), order
        if order["outcome"] == "order_created" and roll < 0.45:
            status, _h, paid = call(
                host,
                "POST",
                "/payment",
                {"order_id": order["order_id"], "amount": order["total"], "card_number": "4242424242424242"},
                headers={**token, "Idempotency-Key": "storm-pay"},
            )
            # Paid, or (3 s to pay, under load) told truthfully that the order expired first.
            if status == 200:
                assert paid["status"] == "paid", paid
            else:
                assert (status, paid["error"]["code"]) == (409, "order_expired"), paid
    # the rest keep their holds until they expire (and unpaid orders until their deadline)


def _outcomes(services, sku: str) -> set[str]:
    return {json.loads(row.outcome)["outcome"] for row in ledger(services, sku)}


def test_the_ledger_replay_matches_the_stock_after_a_concurrent_storm_with_expiries(
    config, app, services, make_product, spawn, drain
):
    config.HOLD_TTL_SECONDS = 2
    config.PAYMENT_TTL_SECONDS = 3
    # Two locations (holds span them when one runs short) and a second unit: a pair of pieces.
    make_product(
        "STORM-1",
        on_hand=15,
        max_per_cart=2,
        location="JKT",
        uoms=[{"uom": "pair", "conversion": STORM_PAIR}],
    )
    request_receipt(services, "STORM-1", "SBY", STORM_UNITS - 15)
    drain()
    env = {
        "HOLD_TTL_SECONDS": 2,
        "PAYMENT_TTL_SECONDS": 3,
        "WAITLIST_TTL_SECONDS": 4,
        "SWEEP_INTERVAL_SECONDS": 1,
    }
    spawn("workers.consumer", **env)
    spawn("workers.consumer", **env)
    spawn("workers.schedule", **env)
    with serve(app) as host, ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda i: _storm_cart(host, i), range(STORM_CARTS)))
        # A second wave meets the units the first wave's holds and orders gave back.
        assert wait_until(lambda: "expired" in _outcomes(services, "STORM-1"), timeout_s=20)
        list(pool.map(lambda i: _storm_cart(host, i), range(STORM_CARTS, STORM_CARTS + 20)))

    def settled() -> bool:
        with services.db.reading() as session:
            live = session.scalar(
                select(Hold.id).where(
                    Hold.sku == "STORM-1",
                    Hold.status.in_([HoldStatus.ACTIVE, HoldStatus.ORDERED, HoldStatus.PAID]),
                )
            )
            waiting = session.scalar(select(WaitlistEntry.id).where(WaitlistEntry.status == "waiting"))
            return live is None and waiting is None

    assert wait_until(settled, timeout_s=40)
    rows = ledger(services, "STORM-1")
    outcomes = {json.loads(row.outcome)["outcome"] for row in rows}
    assert {"held", "expired", "allocated"} <= outcomes
    assert any(row.kind == "waitlist_handoff" for row in rows)  # returned units went to the waitlist
    with services.db.reading() as session:
        product = session.get(Product, "STORM-1")
        assert (rows[-1].on_hand_after, rows[-1].reserved_after) == (product.on_hand, product.reserved)
        # Paid units are allocated: still on hand until shipped.
        assert product.reserved == 0 and product.on_hand == STORM_UNITS
        assert product.allocated == product.sales
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
    report = audit_report(services)
    assert report.ok, report.violations
