"""Issue 11: stock per location, units of measure, the stock lifecycle, item movements, flash prices,
order numbers and the operator's receipts, shipping and cancelling — through the API and the lanes.

Operator calls are made with ADMIN_WAIT_SECONDS=0: they answer 202 with the queued job at once, and
``drain()`` (a real lane consumer) applies them, so the tests prove each change goes through a lane.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from config import TestConfig
from shop import create_app
from shop.domain.audit import audit
from shop.storage.models import Hold, HoldStatus, Order, OrderStatus, Product, StockLocation, utcnow
from tests.helpers import GOOD_CARD, OPERATOR, Shopper, assert_audit_clean, available


@pytest.fixture
def ops(config: TestConfig, services):
    """An operator's client whose stock calls answer 202 at once instead of waiting for their turn."""
    app = create_app(
        TestConfig(DATABASE_URL=config.DATABASE_URL, REDIS_URL=config.REDIS_URL, ADMIN_WAIT_SECONDS=0),
        services=services,
    )
    return app.test_client()


@pytest.fixture
def boxed(make_product):
    """A product sold by the piece and by the box of 12, 30 pieces at MAIN, at most 24 per cart."""
    return make_product("BOXED-1", on_hand=30, max_per_cart=24, uoms=[{"uom": "box", "conversion": 12}])


def locations(services, sku: str) -> dict[str, tuple[int, int, int]]:
    with services.db.reading() as session:
        rows = session.scalars(select(StockLocation).where(StockLocation.sku == sku)).all()
        return {r.location_code: (r.on_hand, r.reserved, r.allocated) for r in rows}


def held(shopper: Shopper, drain, sku: str, qty: int, **extra) -> dict:
    accepted = shopper.add(sku, qty, **extra)
    assert accepted.status_code == 202, accepted.get_json()
    drain()
    return shopper.result(accepted)


def receive(ops, drain, sku: str, location: str, qty: int, **extra) -> dict:
    response = ops.post(
        f"/admin/products/{sku}/receipts", json={"location": location, "qty": qty, **extra}, auth=OPERATOR
    )
    assert response.status_code == 202, response.get_json()
    drain()
    return response.get_json()


def paid_order(shopper: Shopper, drain, sku: str, qty: int) -> dict:
    held(shopper, drain, sku, qty)
    accepted = shopper.checkout("co-1")
    drain()
    order = shopper.result(accepted)
    assert order["outcome"] == "order_created", order
    assert shopper.pay(order["order_id"], order["total"], GOOD_CARD).get_json()["status"] == "paid"
    drain()  # the SKU's lane allocates the paid units
    return order


# --- units of measure ----------------------------------------------------------------------------


def test_the_catalog_lists_each_products_units(client, boxed):
    item = client.get(f"/catalogs/{boxed}").get_json()

    assert item["uoms"] == [{"uom": "pcs", "conversion": 1}, {"uom": "box", "conversion": 12}]
    assert item["base_uom"] == "pcs"


def test_holding_one_box_lowers_available_by_its_pieces(client, shopper, drain, boxed, services):
    result = held(shopper, drain, boxed, 1, uom="box")

    assert result["outcome"] == "held"
    assert (result["qty"], result["uom"], result["uom_qty"]) == (12, "box", 1)
    assert available(client, boxed) == 30 - 12
    line = shopper.cart().get_json()["items"][0]
    assert (line["qty"], line["uom"], line["uom_qty"]) == (12, "box", 1)
    assert_audit_clean(services)


def test_a_hold_over_max_per_cart_in_base_units_is_refused_at_admission(client, shopper, boxed):
    response = shopper.add(boxed, 3, uom="box")  # 36 pieces > 24

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "limit_exceeded"


def test_an_unknown_unit_is_refused_with_a_clear_message(client, shopper, boxed):
    response = shopper.add(boxed, 1, uom="crate")

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "unknown_uom"
    assert "crate" in error["message"]


def test_setting_a_quantity_in_boxes_through_the_query_string(client, shopper, drain, boxed):
    held(shopper, drain, boxed, 1)
    accepted = shopper.client.put(f"/chart/{boxed}/2?uom=box", headers=shopper.headers)
    assert accepted.status_code == 202
    drain()

    assert shopper.result(accepted)["qty"] == 24
    assert available(client, boxed) == 30 - 24


# --- locations -----------------------------------------------------------------------------------


def test_a_hold_takes_its_units_from_the_first_location_by_priority(
    client, ops, shopper, drain, make_product, services
):
    sku = make_product("LOC-1", on_hand=5, location="JKT")
    receive(ops, drain, sku, "SBY", 20)  # a second location, after JKT by priority

    result = held(shopper, drain, sku, 4)

    assert result["outcome"] == "held"
    assert locations(services, sku) == {"JKT": (5, 4, 0), "SBY": (20, 0, 0)}
    assert_audit_clean(services)


def test_a_hold_larger_than_any_location_spans_locations(client, ops, shopper, drain, make_product, services):
    sku = make_product("LOC-2", on_hand=3, location="JKT", max_per_cart=10)
    receive(ops, drain, sku, "SBY", 4)

    held(shopper, drain, sku, 6)

    assert locations(services, sku) == {"JKT": (3, 3, 0), "SBY": (4, 3, 0)}
    with services.db.reading() as session:
        assert session.scalar(select(Hold.locations).where(Hold.sku == sku)) == '{"JKT":3,"SBY":3}'
    assert available(client, sku) == 1
    assert_audit_clean(services)


def test_an_overdue_hold_spanning_locations_gives_each_location_its_units_at_the_next_batch(
    client, ops, shopper, new_shopper, drain, make_product, services
):
    sku = make_product("LOC-3", on_hand=3, location="JKT", max_per_cart=10)
    receive(ops, drain, sku, "SBY", 4)
    held(shopper, drain, sku, 6)
    with services.db.writing() as session, session.begin():
        overdue = utcnow() - timedelta(seconds=1)
        session.execute(update(Hold).where(Hold.sku == sku).values(expires_at=overdue))

    # The next batch of the SKU expires the overdue hold first (one UPDATE ... RETURNING), then serves.
    later = held(new_shopper(), drain, sku, 7)

    assert later["outcome"] == "held", later
    assert locations(services, sku) == {"JKT": (3, 3, 0), "SBY": (4, 4, 0)}
    with services.db.reading() as session:
        statuses = dict(session.execute(select(Hold.qty, Hold.status).where(Hold.sku == sku)).all())
    assert statuses == {6: HoldStatus.EXPIRED, 7: HoldStatus.ACTIVE}
    assert_audit_clean(services)


def test_a_receipt_in_boxes_is_a_goods_receipt_movement_at_its_location(client, ops, drain, boxed, services):
    answer = receive(ops, drain, boxed, "SBY", 2, uom="box", doc_ref="DN-7")

    assert answer["outcome"] == "queued"
    assert locations(services, boxed)["SBY"] == (24, 0, 0)
    page = ops.get(f"/admin/products/{boxed}/movements", auth=OPERATOR).get_json()
    newest = page["items"][0]
    assert (newest["movement_type"], newest["doc_type"], newest["doc_ref"]) == ("IN", "GR", "DN-7")
    assert (newest["qty"], newest["original_qty"], newest["original_uom"], newest["conversion"]) == (
        24,
        2,
        "box",
        12,
    )
    assert page["total"] == 2  # the initial stock, then the receipt
    assert_audit_clean(services)


def test_a_receipt_in_an_unknown_unit_is_refused_and_changes_nothing(client, ops, boxed, services):
    response = ops.post(
        f"/admin/products/{boxed}/receipts", json={"location": "SBY", "qty": 1, "uom": "crate"}, auth=OPERATOR
    )

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "unknown_uom"
    assert "SBY" not in locations(services, boxed)


def test_movements_are_listed_newest_first_and_paged(client, ops, drain, make_product):
    sku = make_product("MOV-1", on_hand=1)
    for qty in (2, 3, 4):
        receive(ops, drain, sku, "MAIN", qty)

    page = ops.get(f"/admin/products/{sku}/movements?limit=2&page=1", auth=OPERATOR).get_json()
    second = ops.get(f"/admin/products/{sku}/movements?limit=2&page=2", auth=OPERATOR).get_json()

    assert [m["qty"] for m in page["items"]] == [4, 3]
    assert [m["qty"] for m in second["items"]] == [2, 1]
    assert (page["total"], page["pages"]) == (4, 2)


def test_the_board_page_of_a_sku_shows_its_stock_by_location_and_its_movements(
    client, ops, drain, make_product
):
    sku = make_product("MOV-2", on_hand=4)
    receive(ops, drain, sku, "SBY", 7, doc_ref="GR-0042")

    page = ops.get(f"/admin/board/{sku}", auth=OPERATOR)
    html = page.get_data(as_text=True)

    assert page.status_code == 200 and page.mimetype == "text/html"
    assert html.index(">MAIN<") < html.index(">SBY<")
    assert html.index("GR-0042") < html.index("INITIAL")  # newest first
    assert "2 in all" in html


def test_the_board_page_of_an_unknown_sku_is_a_404_page(ops):
    page = ops.get("/admin/board/NOPE-1", auth=OPERATOR, headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.mimetype == "text/html"


def test_the_audit_reports_on_hand_that_its_movements_do_not_explain(client, make_product, services):
    sku = make_product("AUD-1", on_hand=5)
    with services.db.writing() as session, session.begin():
        session.execute(update(StockLocation).where(StockLocation.sku == sku).values(on_hand=6))
        session.execute(update(Product).where(Product.sku == sku).values(on_hand=6))

    with services.db.writing() as session:
        report = audit(session)

    assert any("movements sum to 5" in v for v in report.violations), report.violations


# --- lifecycle: reserved -> allocated -> shipped --------------------------------------------------


def test_paying_moves_the_units_from_reserved_to_allocated_through_the_lane(
    client, shopper, drain, make_product, services
):
    sku = make_product("LIFE-1", on_hand=10)
    paid_order(shopper, drain, sku, 2)

    assert locations(services, sku) == {"MAIN": (10, 0, 2)}
    assert available(client, sku) == 8
    assert_audit_clean(services)


def test_shipping_a_paid_order_is_a_goods_issue(client, ops, shopper, drain, make_product, services):
    sku = make_product("LIFE-2", on_hand=10)
    order = paid_order(shopper, drain, sku, 2)
    order_no = order["order_no"]

    response = ops.post(f"/admin/orders/{order_no}/ship", auth=OPERATOR)
    assert response.status_code == 202
    drain()

    assert locations(services, sku) == {"MAIN": (8, 0, 0)}
    view = ops.get(f"/admin/orders/{order_no}", auth=OPERATOR).get_json()
    assert view["status"] == "shipped"
    issue = ops.get(f"/admin/products/{sku}/movements", auth=OPERATOR).get_json()["items"][0]
    assert (issue["movement_type"], issue["doc_type"], issue["doc_ref"], issue["qty"]) == (
        "OUT",
        "GI",
        order_no,
        2,
    )
    assert_audit_clean(services)


def test_an_unpaid_order_cannot_be_shipped(client, ops, shopper, drain, make_product, services):
    sku = make_product("LIFE-3", on_hand=10)
    held(shopper, drain, sku, 1)
    accepted = shopper.checkout("co-1")
    drain()
    order = shopper.result(accepted)

    response = ops.post(f"/admin/orders/{order['order_no']}/ship", auth=OPERATOR)

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "order_not_shippable"
    assert locations(services, sku) == {"MAIN": (10, 1, 0)}


# --- orders: numbers, notes, cancelling ----------------------------------------------------------


def test_checkout_numbers_the_order_and_keeps_its_notes(client, shopper, drain, make_product):
    sku = make_product("ORD-1", on_hand=10)
    held(shopper, drain, sku, 1)
    accepted = shopper.client.post(
        "/checkout", json={"notes": "Tolong kirim sore"}, headers={**shopper.headers, "Idempotency-Key": "k"}
    )
    drain()
    order = shopper.result(accepted)

    view = shopper.client.get(f"/orders/{order['order_id']}", headers=shopper.headers).get_json()
    assert view["order_no"] == order["order_no"]
    assert view["order_no"].startswith(f"KL-{utcnow():%Y%m%d}-")
    assert view["notes"] == "Tolong kirim sore"


def test_notes_longer_than_500_characters_are_refused(client, shopper, drain, make_product):
    sku = make_product("ORD-2", on_hand=10)
    held(shopper, drain, sku, 1)

    response = shopper.client.post("/checkout", json={"notes": "x" * 501}, headers=shopper.headers)

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_notes"


def test_order_numbers_are_consecutive(client, new_shopper, drain, make_product):
    sku = make_product("ORD-3", on_hand=10)
    numbers = []
    for _ in range(2):
        shopper = new_shopper()
        held(shopper, drain, sku, 1)
        accepted = shopper.checkout("k")
        drain()
        numbers.append(int(shopper.result(accepted)["order_no"].rsplit("-", 1)[1]))

    assert numbers[1] == numbers[0] + 1


def test_cancelling_an_unpaid_order_soft_deletes_it_and_gives_its_units_to_the_waitlist(
    client, ops, new_shopper, drain, make_product, services
):
    sku = make_product("CAN-1", on_hand=1, max_per_cart=1)
    buyer, waiting = new_shopper(), new_shopper()
    held(buyer, drain, sku, 1)
    accepted = buyer.checkout("k")
    drain()
    order = buyer.result(accepted)
    job_id = waiting.add(sku, 1, waitlist=True).get_json()["job_id"]
    drain()
    assert waiting.job(job_id).get_json()["status"] == "waitlisted"

    response = ops.post(f"/admin/orders/{order['order_no']}/cancel", auth=OPERATOR)
    assert response.status_code == 202
    drain()

    with services.db.reading() as session:
        row = session.get(Order, order["order_id"])
        assert (row.status, row.deleted_at is not None) == (OrderStatus.CANCELLED, True)
    assert waiting.job(job_id).get_json()["result"]["outcome"] == "held"
    assert_audit_clean(services)


def test_a_paid_order_cannot_be_cancelled(client, ops, shopper, drain, make_product):
    sku = make_product("CAN-2", on_hand=5)
    order = paid_order(shopper, drain, sku, 1)

    response = ops.post(f"/admin/orders/{order['order_no']}/cancel", auth=OPERATOR)

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "order_not_cancellable"


# --- flash prices --------------------------------------------------------------------------------


def test_the_catalog_shows_the_normal_price_and_the_discount(client, make_product):
    sku = make_product("PRICE-1", price=75_000, normal_price=100_000)

    item = client.get(f"/catalogs/{sku}").get_json()

    assert (item["price"], item["normal_price"], item["discount_pct"]) == (75_000, 100_000, 25)


def test_after_the_sale_ends_the_price_is_normal_again(client, make_product):
    ended = (utcnow() - timedelta(minutes=1)).isoformat()
    sku = make_product("PRICE-2", price=75_000, normal_price=100_000, sale_ends_at=ended)

    item = client.get(f"/catalogs/{sku}").get_json()

    assert (item["price"], item["discount_pct"]) == (100_000, 0)


def test_the_catalog_sorts_by_discount(client, make_product):
    make_product("DISC-A", price=90_000, normal_price=100_000)
    make_product("DISC-B", price=50_000, normal_price=100_000)
    make_product("DISC-C", price=100_000)

    items = client.get("/catalogs?sortBy=discount").get_json()["items"]

    assert [i["sku"] for i in items] == ["DISC-B", "DISC-A", "DISC-C"]


def test_a_held_flash_price_is_paid_even_if_the_sale_ends_before_checkout(
    client, shopper, drain, make_product, services
):
    sku = make_product("PRICE-3", on_hand=5, price=60_000, normal_price=100_000)
    held(shopper, drain, sku, 2)
    with services.db.writing() as session, session.begin():
        session.execute(update(Product).where(Product.sku == sku).values(sale_ends_at=utcnow()))
    accepted = shopper.checkout("k")
    drain()
    order = shopper.result(accepted)

    view = shopper.client.get(f"/orders/{order['order_id']}", headers=shopper.headers).get_json()
    line = view["lines"][0]
    assert (line["unit_price"], line["disc_pct"], line["disc_amt"], line["net_amt"]) == (
        100_000,
        40,
        80_000,
        120_000,
    )
    assert view["total"] == 120_000
    assert_audit_clean(services)


def test_a_hold_never_makes_available_negative_in_the_catalog(
    client, new_shopper, drain, make_product, services
):
    sku = make_product("NEG-1", on_hand=2, max_per_cart=2)
    for _ in range(3):
        held(new_shopper(), drain, sku, 2)
    with services.db.reading() as session:
        statuses = session.scalars(select(Hold.status).where(Hold.sku == sku)).all()

    assert statuses == [HoldStatus.ACTIVE]
    assert available(client, sku) == 0


# --- the command line ----------------------------------------------------------------------------


def test_shop_receive_books_a_receipt_in_boxes_through_the_line(app, drain, boxed, services):
    result = app.test_cli_runner().invoke(
        args=["shop", "receive", boxed, "JKT", "2", "--uom", "box", "--ref", "DN-9", "--wait", "0"]
    )
    assert result.exit_code == 0, result.output
    drain()

    assert locations(services, boxed)["JKT"] == (24, 0, 0)
    assert_audit_clean(services)


def test_shop_ship_issues_a_paid_order(app, shopper, drain, make_product, services):
    sku = make_product("CLI-1", on_hand=4)
    order = paid_order(shopper, drain, sku, 3)

    result = app.test_cli_runner().invoke(args=["shop", "ship", order["order_no"], "--wait", "0"])
    assert result.exit_code == 0, result.output
    drain()

    assert locations(services, sku) == {"MAIN": (1, 0, 0)}
    assert_audit_clean(services)


def test_shop_ship_refuses_an_unknown_order(app):
    result = app.test_cli_runner().invoke(args=["shop", "ship", "KL-20990101-999999"])

    assert result.exit_code == 1
    assert "No order" in result.output
