"""The cart API: POST /chart, PUT /chart/<sku>/<qty>, GET /chart, GET /jobs/<id> and the /cart aliases.

Cart changes are accepted (202) and put in the SKU's line; ``drain()`` serves the line, after which
the job's result tells the shopper what happened.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from shop.storage.models import Cart, Hold, HoldStatus, Product
from tests.helpers import assert_error, available

SKU = "FLASH-1"
ON_HAND = 10
BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


@pytest.fixture
def product(make_product) -> str:
    return make_product(SKU, on_hand=ON_HAND, max_per_cart=5, price=250_000, name="Flash Drive 64GB")


def holds(services) -> list[Hold]:
    with services.db.reading() as session:
        return list(session.scalars(select(Hold).order_by(Hold.id)))


def stock(services, sku: str = SKU) -> tuple[int, int]:
    """Return (on_hand, reserved) as the database has them."""
    with services.db.reading() as session:
        product = session.get(Product, sku)
        return product.on_hand, product.reserved


def assert_nothing_changed(services, drain) -> None:
    """Nothing was put in line, no cart or hold was written and no unit was reserved."""
    assert drain() == 0
    assert holds(services) == []
    assert stock(services) == (ON_HAND, 0)
    with services.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Cart)) == 0


def forge(token: str) -> str:
    """Change the signature's last character so that the signature bytes really change.

    (The last base64 character of a 20-byte signature carries only 4 bits; flipping its top bit
    always changes one of them.)
    """
    last = BASE64URL.index(token[-1])
    return token[:-1] + BASE64URL[last ^ 0b100000]


# --- accepting a request -----------------------------------------------------------------------


def test_adding_to_the_cart_is_accepted_with_a_job_to_poll(client, product):
    response = client.post("/chart", json={"sku": SKU, "qty": 1})
    assert response.status_code == 202
    body = response.get_json()
    job_id = body["job_id"]
    assert isinstance(job_id, str) and job_id
    assert body["status"] == "queued"
    assert body["position"] == 0
    assert body["status_url"] == f"/jobs/{job_id}"
    assert isinstance(body["cart_token"], str) and body["cart_token"]
    assert response.headers["X-Cart-Token"] == body["cart_token"]
    assert response.headers["Location"] == f"/jobs/{job_id}"


def test_a_cart_keeps_its_token_across_requests(shopper, product):
    first = shopper.add(SKU, 1)
    second = shopper.add(SKU, 1)
    assert second.get_json()["cart_token"] == first.get_json()["cart_token"]
    assert second.headers["X-Cart-Token"] == first.headers["X-Cart-Token"]


def test_a_request_changes_nothing_until_its_turn_in_line(client, services, shopper, product):
    shopper.add(SKU, 2)
    assert holds(services) == []
    assert available(client, SKU) == ON_HAND


# --- what happens to an add ----------------------------------------------------------------------


def test_a_hold_reserves_the_units_until_it_expires(client, services, config, shopper, product, drain):
    before = datetime.now(UTC)
    accepted = shopper.add(SKU, 2)
    assert drain() == 1
    result = shopper.result(accepted)
    assert result["outcome"] == "held"
    assert result["sku"] == SKU
    assert result["qty"] == 2
    assert isinstance(result["hold_id"], int)
    expires_at = datetime.fromisoformat(result["expires_at"])
    ttl = timedelta(seconds=config.HOLD_TTL_SECONDS)
    assert before + ttl <= expires_at <= datetime.now(UTC) + ttl
    [hold] = holds(services)
    assert (hold.id, hold.sku, hold.qty, hold.status) == (result["hold_id"], SKU, 2, HoldStatus.ACTIVE)
    assert stock(services) == (ON_HAND, 2)
    assert available(client, SKU) == ON_HAND - 2


def test_adding_again_grows_the_same_hold_and_keeps_its_expiry(client, shopper, product, drain):
    first = shopper.add(SKU, 1)
    drain()
    second = shopper.add(SKU, 2)
    drain()
    held_first, held_second = shopper.result(first), shopper.result(second)
    assert held_second["outcome"] == "held"
    assert held_second["qty"] == 3
    assert held_second["hold_id"] == held_first["hold_id"]
    assert held_second["expires_at"] == held_first["expires_at"]
    assert available(client, SKU) == ON_HAND - 3


def test_hold_fails_when_stock_is_exhausted(client, services, make_product, shopper, new_shopper, drain):
    make_product("LAST-1", on_hand=1)
    other = new_shopper()
    taken = other.add("LAST-1", 1)
    mine = shopper.add("LAST-1", 1)
    drain()
    assert other.result(taken)["outcome"] == "held"
    assert shopper.result(mine) == {"outcome": "sold_out", "sku": "LAST-1", "available": 0}
    assert [h.qty for h in holds(services)] == [1]
    assert available(client, "LAST-1") == 0


def test_hold_fails_as_sold_out_when_there_was_never_any_stock(shopper, make_product, drain):
    make_product("NONE-1", on_hand=0)
    accepted = shopper.add("NONE-1", 1)
    drain()
    assert shopper.result(accepted)["outcome"] == "sold_out"
    assert shopper.result(accepted)["available"] == 0


def test_hold_fails_whole_when_fewer_units_are_left_than_asked(
    client, services, shopper, make_product, drain
):
    make_product("FEW-1", on_hand=3, max_per_cart=5)
    accepted = shopper.add("FEW-1", 5)
    drain()
    result = shopper.result(accepted)
    assert result["outcome"] == "insufficient"
    assert result["available"] == 3
    assert result["requested"] == 5
    assert holds(services) == []
    assert available(client, "FEW-1") == 3


def test_a_partial_hold_takes_what_is_left_when_allowed(client, services, shopper, make_product, drain):
    make_product("FEW-1", on_hand=3, max_per_cart=5)
    accepted = shopper.add("FEW-1", 5, allow_partial=True)
    drain()
    result = shopper.result(accepted)
    assert result["outcome"] == "held"
    assert result["qty"] == 3
    assert result["partial"] is True
    assert result["requested"] == 5
    assert [h.qty for h in holds(services)] == [3]
    assert available(client, "FEW-1") == 0


def test_a_partial_hold_still_fails_when_nothing_is_left(shopper, make_product, drain):
    make_product("NONE-1", on_hand=0)
    accepted = shopper.add("NONE-1", 2, allow_partial=True)
    drain()
    assert shopper.result(accepted)["outcome"] == "sold_out"


def test_the_per_cart_limit_counts_units_already_in_the_cart(client, services, shopper, make_product, drain):
    make_product("LIMIT-1", on_hand=10, max_per_cart=3)
    first = shopper.add("LIMIT-1", 2)
    drain()
    second = shopper.add("LIMIT-1", 2)
    assert second.status_code == 202  # 2 alone is within the limit; the cart's 2 are counted in line
    drain()
    assert shopper.result(first)["outcome"] == "held"
    result = shopper.result(second)
    assert result["outcome"] == "limit_exceeded"
    assert result["max_per_cart"] == 3
    assert result["in_cart"] == 2
    assert [h.qty for h in holds(services)] == [2]
    assert available(client, "LIMIT-1") == 8


# --- setting a quantity ------------------------------------------------------------------------


def test_setting_quantity_zero_releases_the_units(client, services, shopper, product, drain):
    shopper.add(SKU, 3)
    drain()
    accepted = shopper.set_qty(SKU, 0)
    assert accepted.status_code == 202
    drain()
    result = shopper.result(accepted)
    assert result["outcome"] == "released"
    assert result["qty"] == 0
    assert result["released"] == 3
    [hold] = holds(services)
    assert hold.status == HoldStatus.RELEASED
    assert available(client, SKU) == ON_HAND
    assert shopper.cart().get_json()["items"] == []


def test_setting_a_higher_quantity_takes_only_the_difference(client, shopper, product, drain):
    first = shopper.add(SKU, 1)
    drain()
    accepted = shopper.set_qty(SKU, 4)
    drain()
    result = shopper.result(accepted)
    assert result["outcome"] == "held"
    assert result["qty"] == 4
    assert result["hold_id"] == shopper.result(first)["hold_id"]
    assert available(client, SKU) == ON_HAND - 4


def test_setting_a_lower_quantity_returns_the_difference(client, shopper, product, drain):
    shopper.add(SKU, 4)
    drain()
    assert available(client, SKU) == ON_HAND - 4
    accepted = shopper.set_qty(SKU, 1)
    drain()
    result = shopper.result(accepted)
    assert result["outcome"] == "held"
    assert result["qty"] == 1
    assert available(client, SKU) == ON_HAND - 1


def test_setting_a_quantity_of_an_item_not_yet_in_the_cart_holds_it(client, shopper, product, drain):
    accepted = shopper.set_qty(SKU, 2)
    drain()
    assert shopper.result(accepted)["outcome"] == "held"
    assert shopper.result(accepted)["qty"] == 2
    assert available(client, SKU) == ON_HAND - 2


def test_setting_a_quantity_beyond_the_stock_left_is_refused(client, shopper, make_product, drain):
    make_product("FEW-1", on_hand=3, max_per_cart=5)
    shopper.add("FEW-1", 1)
    drain()
    accepted = shopper.set_qty("FEW-1", 5)
    drain()
    result = shopper.result(accepted)
    assert result["outcome"] == "insufficient"
    assert result["available"] == 2
    assert available(client, "FEW-1") == 2


# --- the line ----------------------------------------------------------------------------------


def test_requests_for_one_sku_are_numbered_in_arrival_order(new_shopper, product, drain):
    shoppers = [new_shopper() for _ in range(3)]
    accepted = [s.add(SKU, 1) for s in shoppers]
    assert [r.get_json()["position"] for r in accepted] == [0, 1, 2]
    for position, (s, response) in enumerate(zip(shoppers, accepted, strict=True)):
        job = s.job(response.get_json()["job_id"]).get_json()
        assert job["status"] == "queued"
        assert job["position"] == position
        assert job["result"] is None
    drain()
    for s, response in zip(shoppers, accepted, strict=True):
        job = s.job(response.get_json()["job_id"]).get_json()
        assert job["status"] == "finished"
        assert job["position"] is None
        assert job["result"]["outcome"] == "held"


def test_a_request_after_the_line_was_served_is_first_again(shopper, new_shopper, product, drain):
    for _ in range(3):
        new_shopper().add(SKU, 1)
    drain()
    assert shopper.add(SKU, 1).get_json()["position"] == 0


def test_each_sku_has_its_own_line(make_product, new_shopper):
    make_product("A-1")
    make_product("B-1")
    assert new_shopper().add("A-1", 1).get_json()["position"] == 0
    assert new_shopper().add("B-1", 1).get_json()["position"] == 0
    assert new_shopper().add("A-1", 1).get_json()["position"] == 1


def test_a_job_tells_the_shopper_when_to_poll_again(shopper, product, drain):
    job_id = shopper.add(SKU, 1).get_json()["job_id"]
    queued = shopper.job(job_id).get_json()
    assert isinstance(queued["poll_after_ms"], int) and queued["poll_after_ms"] > 0
    drain()
    finished = shopper.job(job_id).get_json()
    assert isinstance(finished["poll_after_ms"], int) and finished["poll_after_ms"] > 0


def test_a_job_is_private_to_the_cart_that_made_it(shopper, new_shopper, product):
    job_id = shopper.add(SKU, 1).get_json()["job_id"]
    other = new_shopper()
    other.cart()
    assert other.token and other.token != shopper.token
    assert_error(other.job(job_id), 404, "unknown_job")


def test_an_unknown_job_is_not_found(shopper, product):
    shopper.cart()
    assert_error(shopper.job("0123456789abcdef0123456789abcdef"), 404, "unknown_job")


def test_a_job_id_of_a_strange_shape_is_not_found(shopper, product):
    shopper.cart()
    assert_error(shopper.job("not a job!"), 404, "unknown_job")


def test_reading_a_job_needs_a_cart_token(client, shopper, product):
    job_id = shopper.add(SKU, 1).get_json()["job_id"]
    assert_error(client.get(f"/jobs/{job_id}"), 400, "missing_cart_token")


# --- reading the cart --------------------------------------------------------------------------


def test_reading_the_cart_without_a_token_starts_an_empty_cart(client, shopper, product):
    response = client.get("/chart")
    assert response.status_code == 200
    body = response.get_json()
    assert body["items"] == []
    assert body["total"] == 0
    assert body["pending_jobs"] == []
    assert body["cart_token"]
    assert response.headers["X-Cart-Token"] == body["cart_token"]
    shopper.token = body["cart_token"]
    assert shopper.add(SKU, 1).headers["X-Cart-Token"] == body["cart_token"]


def test_the_cart_lists_each_held_line_with_its_price_and_time_left(config, shopper, make_product, drain):
    make_product("A-1", price=100_000, name="Alpha")
    make_product("B-1", price=25_000, name="Beta")
    accepted_a = shopper.add("A-1", 2)
    accepted_b = shopper.add("B-1", 3)
    drain()
    body = shopper.cart().get_json()
    alpha, beta = body["items"]
    assert alpha["sku"] == "A-1"
    assert alpha["name"] == "Alpha"
    assert alpha["qty"] == 2
    assert alpha["unit_price"] == 100_000
    assert alpha["line_total"] == 200_000
    assert alpha["expires_at"] == shopper.result(accepted_a)["expires_at"]
    assert 0 < alpha["seconds_left"] <= config.HOLD_TTL_SECONDS
    assert (beta["sku"], beta["qty"], beta["line_total"]) == ("B-1", 3, 75_000)
    assert beta["expires_at"] == shopper.result(accepted_b)["expires_at"]
    assert body["total"] == 275_000
    assert body["currency"] == "IDR"


def test_the_cart_shows_requests_still_waiting_in_line(shopper, product, drain):
    job_id = shopper.add(SKU, 1).get_json()["job_id"]
    assert shopper.cart().get_json()["pending_jobs"] == [job_id]
    drain()
    body = shopper.cart().get_json()
    assert body["pending_jobs"] == []
    assert [item["sku"] for item in body["items"]] == [SKU]


def test_the_cart_paths_are_also_served_as_cart(client, services, product, drain):
    added = client.post("/cart", json={"sku": SKU, "qty": 3})
    assert added.status_code == 202
    token = added.headers["X-Cart-Token"]
    headers = {"X-Cart-Token": token}
    drain()
    changed = client.put(f"/cart/{SKU}/2", headers=headers)
    assert changed.status_code == 202
    assert changed.headers["Location"] == f"/jobs/{changed.get_json()['job_id']}"
    drain()
    via_cart = client.get("/cart", headers=headers).get_json()
    via_chart = client.get("/chart", headers=headers).get_json()
    assert [(i["sku"], i["qty"]) for i in via_cart["items"]] == [(SKU, 2)]
    assert via_cart["items"] == via_chart["items"]
    assert stock(services) == (ON_HAND, 2)


# --- refusals: nothing changes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{not json", "application/json"),
        ("", "application/json"),
        ("null", "application/json"),
        ('"FLASH-1"', "application/json"),
        ('[{"sku": "FLASH-1", "qty": 1}]', "application/json"),
    ],
    ids=["broken-json", "empty", "null", "json-string", "json-array"],
)
def test_an_add_whose_body_is_not_a_json_object_is_refused(
    client, services, product, drain, data, content_type
):
    response = client.post("/chart", data=data, content_type=content_type)
    assert_error(response, 400, "invalid_json")
    assert_nothing_changed(services, drain)


@pytest.mark.parametrize(
    "body",
    [{"qty": 1}, {"sku": None, "qty": 1}, {"sku": "", "qty": 1}, {"sku": 123, "qty": 1}, {"sku": [SKU]}],
    ids=["missing", "null", "empty", "number", "list"],
)
def test_an_add_without_a_sku_is_refused(client, services, product, drain, body):
    assert_error(client.post("/chart", json=body), 400, "invalid_sku")
    assert_nothing_changed(services, drain)


@pytest.mark.parametrize(
    "qty",
    [0, -1, 1.5, "abc", True, False, None, 100_000, [1], "1.5", "-1", "3"],
    ids=repr,
)
def test_an_add_of_a_quantity_that_is_not_a_positive_whole_number_is_refused(
    client, services, product, drain, qty
):
    assert_error(client.post("/chart", json={"sku": SKU, "qty": qty}), 422, "invalid_qty")
    assert_nothing_changed(services, drain)


def test_an_add_without_a_quantity_is_refused(client, services, product, drain):
    assert_error(client.post("/chart", json={"sku": SKU}), 422, "invalid_qty")
    assert_nothing_changed(services, drain)


@pytest.mark.parametrize("allow_partial", ["yes", 1, None])
def test_allow_partial_must_be_true_or_false(client, services, product, drain, allow_partial):
    body = {"sku": SKU, "qty": 1, "allow_partial": allow_partial}
    assert_error(client.post("/chart", json=body), 400, "invalid_allow_partial")
    assert_nothing_changed(services, drain)


@pytest.mark.parametrize(
    "sku",
    ["NOPE-1", "flash-1", "FLASH-1' OR '1'='1", "FLASH-1; DROP TABLE products; --", "%", "x" * 65],
    ids=["unknown", "wrong-case", "sql-or", "sql-drop", "wildcard", "too-long"],
)
def test_an_add_of_an_unknown_sku_is_refused(client, services, product, drain, sku):
    error = assert_error(client.post("/chart", json={"sku": sku, "qty": 1}), 422, "unknown_sku")
    assert "details" in error
    assert_nothing_changed(services, drain)
    with services.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Product)) == 1


def test_an_add_above_the_per_cart_limit_is_refused_at_once(client, services, product, drain):
    error = assert_error(client.post("/chart", json={"sku": SKU, "qty": 6}), 422, "limit_exceeded")
    assert error["details"]["max_per_cart"] == 5
    assert_nothing_changed(services, drain)


@pytest.mark.parametrize("qty", ["-1", "1.5", "abc", "true", "100000", "1000000"])
def test_setting_a_quantity_that_is_not_a_whole_number_in_range_is_refused(
    client, services, product, drain, qty
):
    assert_error(client.put(f"/chart/{SKU}/{qty}"), 422, "invalid_qty")
    assert_nothing_changed(services, drain)


@pytest.mark.parametrize("sku", ["NOPE-1", "FLASH-1' OR '1'='1", "%25"], ids=["unknown", "sql", "percent"])
def test_setting_a_quantity_of_an_unknown_sku_is_refused(client, services, product, drain, sku):
    assert_error(client.put(f"/chart/{sku}/1"), 422, "unknown_sku")
    assert_nothing_changed(services, drain)


def test_setting_a_quantity_above_the_per_cart_limit_is_refused_at_once(client, services, product, drain):
    error = assert_error(client.put(f"/chart/{SKU}/6"), 422, "limit_exceeded")
    assert error["details"]["max_per_cart"] == 5
    assert_nothing_changed(services, drain)


MALFORMED_TOKENS = ["garbage", "a.b", "x" * 30, "!" * 20 + "." + "y" * 27, "a" * 65 + "." + "b" * 27]


CART_REQUESTS = [
    ("post", "/chart", {"sku": SKU, "qty": 1}),
    ("put", f"/chart/{SKU}/1", None),
    ("get", "/chart", None),
    ("get", "/jobs/0123456789abcdef", None),
]


@pytest.mark.parametrize("token", MALFORMED_TOKENS)
@pytest.mark.parametrize(("method", "path", "body"), CART_REQUESTS, ids=["add", "set", "cart", "job"])
def test_a_malformed_cart_token_is_refused(client, services, product, drain, token, method, path, body):
    response = getattr(client, method)(path, json=body, headers={"X-Cart-Token": token})
    assert_error(response, 400, "invalid_cart_token")
    assert_nothing_changed(services, drain)


@pytest.mark.parametrize(("method", "path", "body"), CART_REQUESTS, ids=["add", "set", "cart", "job"])
def test_a_forged_cart_token_is_not_found(client, services, product, drain, method, path, body):
    real = client.get("/chart").headers["X-Cart-Token"]
    forged = forge(real)
    assert forged != real
    response = getattr(client, method)(path, json=body, headers={"X-Cart-Token": forged})
    assert_error(response, 404, "unknown_cart")
    assert_nothing_changed(services, drain)


def test_a_token_signed_for_another_cart_id_is_not_found(client, services, product, drain):
    first = client.get("/chart").headers["X-Cart-Token"]
    second = client.get("/chart").headers["X-Cart-Token"]
    spliced = first.split(".")[0] + "." + second.split(".")[1]
    response = client.post("/chart", json={"sku": SKU, "qty": 1}, headers={"X-Cart-Token": spliced})
    assert_error(response, 404, "unknown_cart")
    assert_nothing_changed(services, drain)


def test_a_refused_request_leaves_an_existing_cart_as_it_was(client, services, shopper, product, drain):
    shopper.add(SKU, 2)
    drain()
    before = [(h.id, h.qty, h.status) for h in holds(services)]
    assert_error(shopper.add(SKU, 0), 422, "invalid_qty")
    assert_error(shopper.add("NOPE-1", 1), 422, "unknown_sku")
    assert_error(shopper.set_qty(SKU, 6), 422, "limit_exceeded")
    assert drain() == 0
    assert [(h.id, h.qty, h.status) for h in holds(services)] == before
    assert available(client, SKU) == ON_HAND - 2
    assert shopper.cart().get_json()["pending_jobs"] == []
