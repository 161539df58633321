"""The sale board at a big shop's size: pages, orders, the SKU filter, the cursor, bounded metrics, samples.

Everything runs against the real Redis and database of the fixtures; lanes get activity the way
they do in a sale, through admission (``request_hold``), and lines are applied by a real consumer.
"""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import update

from config import TestConfig
from shop import create_app
from shop.domain.big_catalog import seed_big_catalog
from shop.domain.requests import sku_lane
from shop.lanes.admission import request_hold
from shop.lanes.keys import HOT_LANES_ZSET, LINES_TOTAL, LINES_ZSET, lane_key
from shop.lanes.metrics import record_samples
from shop.lanes.scripts import HOT_EPOCH_S, HOT_HALF_LIFE_S
from shop.storage.models import Product
from shop.web.board_paging import RANKING_PREFIX
from tests.helpers import OPERATOR_HEADERS

SKUS = ["BRD-A", "BRD-B", "BRD-C", "BRD-D", "BRD-E", "BRD-F"]


def board(client, **params):
    return client.get("/admin/skus", query_string=params, headers=OPERATOR_HEADERS)


def skus_of(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [row["sku"] for row in response.get_json()["skus"]]


def walk(client, **params) -> list[str]:
    """Follow next_cursor from the first page to the last; return every SKU in the order shown."""
    seen: list[str] = []
    response = board(client, **params)
    for _ in range(1000):
        seen += skus_of(response)
        cursor = response.get_json()["next_cursor"]
        if cursor is None:
            return seen
        response = board(client, cursor=cursor, limit=params.get("limit", 50))
    raise AssertionError("the walk never ended")


def bump(services, sku: str, times: int) -> None:
    """Put ``times`` requests for one unit in the SKU's line, each from its own cart."""
    for i in range(times):
        request_hold(services, f"cart-{sku}-{i:020d}", sku, 1)


@pytest.fixture
def six(make_product):
    for index, sku in enumerate(SKUS):
        make_product(sku, on_hand=10 + index, name=f"Board {'Mouse' if index % 2 else 'Kaos'} {sku}")
    return SKUS


@pytest.fixture
def small_shop(config, make_services):
    """An app whose activity ranking keeps 3 lanes and whose /metrics shows 2 of them."""
    cfg = TestConfig(
        DATABASE_URL=config.DATABASE_URL, REDIS_URL=config.REDIS_URL, HOT_LANES=3, METRICS_LANES=2
    )
    services = make_services(cfg)
    return services, create_app(cfg, services=services).test_client()


# --- paging -----------------------------------------------------------------------------------


def test_a_page_holds_fifty_skus_by_default_and_names_the_next(client, services):
    with services.db.writing() as session:
        seed_big_catalog(session, 120)
    body = board(client).get_json()
    assert len(body["skus"]) == 50
    assert (body["limit"], body["sortBy"]) == (50, "hottest")
    assert isinstance(body["next_cursor"], str)


def test_a_page_holds_at_most_five_hundred_and_the_last_page_has_no_cursor(client, services):
    with services.db.writing() as session:
        seed_big_catalog(session, 120)
    body = board(client, limit=500).get_json()
    assert len(body["skus"]) == 120 and body["limit"] == 500
    assert body["next_cursor"] is None


def test_every_row_keeps_the_boards_figures(client, six):
    row = board(client, limit=1).get_json()["skus"][0]
    assert set(row) == {
        "sku", "name", "on_hand", "reserved", "allocated", "available", "locations", "sales",
        "expiring_next_minute", "queue_length", "last_ticket", "now_serving", "lease_holder",
        "paused", "applied_per_second", "history",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "501"}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"limit": "-5"}, "invalid_limit"),
        ({"limit": ""}, "invalid_limit"),
        ({"sortBy": "coolest"}, "invalid_sort"),
        ({"sortBy": "HOTTEST"}, "invalid_sort"),
        ({"search": "x" * 101}, "search_too_long"),
        ({"search": "mouse\x00"}, "invalid_search"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": "x" * 2000}, "invalid_cursor"),
    ],
)
def test_bad_paging_input_is_a_clear_400(client, six, params, code):
    response = board(client, **params)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"]


def test_a_cursor_altered_by_hand_is_refused(client, six):
    cursor = board(client, limit=2).get_json()["next_cursor"]
    forged = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    response = board(client, cursor=forged)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_cursor"


def test_a_cursor_carries_its_order_and_search_and_refuses_others(client, six):
    first = board(client, limit=2, sortBy="available", search="mouse").get_json()
    cursor = first["next_cursor"]
    alone = board(client, cursor=cursor, limit=2).get_json()
    assert alone["sortBy"] == "available"
    assert all("mouse" in row["name"].lower() for row in alone["skus"])
    for other in ({"sortBy": "hottest"}, {"search": "kaos"}):
        response = board(client, cursor=cursor, **other)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_cursor"


# --- orders -----------------------------------------------------------------------------------


def test_hottest_puts_the_most_active_lanes_first_then_the_rest_in_sku_order(client, services, six):
    bump(services, "BRD-C", 3)
    bump(services, "BRD-E", 1)
    bump(services, "BRD-A", 2)
    assert skus_of(board(client)) == ["BRD-C", "BRD-A", "BRD-E", "BRD-B", "BRD-D", "BRD-F"]


def test_hottest_reads_the_activity_ranking_not_the_lanes(client, services, six):
    bump(services, "BRD-B", 1)
    # The ranking alone decides: a lane given the top score by hand comes first, whatever its line.
    top = services.redis.zrevrange(HOT_LANES_ZSET, 0, 0, withscores=True)[0][1]
    services.redis.zadd(HOT_LANES_ZSET, {sku_lane("BRD-F"): top + 10})
    assert skus_of(board(client))[:2] == ["BRD-F", "BRD-B"]


def test_old_activity_fades_behind_new_activity(client, services, six):
    # BRD-A had 4 arrivals three half-lives ago (worth 4 / 2**3 = 0.5 of an arrival now) ...
    three_half_lives_ago = (time.time() - 3 * HOT_HALF_LIFE_S - HOT_EPOCH_S) / HOT_HALF_LIFE_S
    services.redis.zadd(HOT_LANES_ZSET, {sku_lane("BRD-A"): three_half_lives_ago + 2})  # log2(4) = 2
    # ... BRD-D has one now.
    bump(services, "BRD-D", 1)
    assert skus_of(board(client))[:2] == ["BRD-D", "BRD-A"]
    # One more arrival on BRD-A (worth 1) puts it ahead again: 1.5 against 1.
    bump(services, "BRD-A", 1)
    assert skus_of(board(client))[:2] == ["BRD-A", "BRD-D"]


def test_the_activity_ranking_keeps_only_the_most_active_lanes(small_shop, make_product):
    services, client = small_shop
    for sku in SKUS:
        make_product(sku)
    for times, sku in enumerate(SKUS, start=1):
        bump(services, sku, times)
    assert services.redis.zcard(HOT_LANES_ZSET) == 3
    assert skus_of(board(client)) == ["BRD-F", "BRD-E", "BRD-D", "BRD-A", "BRD-B", "BRD-C"]


def test_scheduled_housekeeping_does_not_make_a_lane_hot(services, six):
    from rq.job import Job

    job = Job.create("workers.jobs.expire_hold", kwargs={"hold_id": 1}, connection=services.redis)
    services.lanes.push_existing(job, sku_lane("BRD-A"))
    assert services.redis.zcard(HOT_LANES_ZSET) == 0
    assert services.redis.zscore(LINES_ZSET, sku_lane("BRD-A")) == 1


def test_in_line_puts_the_longest_lines_first(client, services, six):
    bump(services, "BRD-D", 1)
    bump(services, "BRD-B", 3)
    bump(services, "BRD-F", 2)
    rows = board(client, sortBy="in_line").get_json()["skus"]
    assert [(r["sku"], r["queue_length"]) for r in rows] == [
        ("BRD-B", 3), ("BRD-F", 2), ("BRD-D", 1), ("BRD-A", 0), ("BRD-C", 0), ("BRD-E", 0),
    ]  # fmt: skip


def test_the_lines_index_follows_the_lines_as_they_are_applied(services, six, drain):
    bump(services, "BRD-B", 3)
    bump(services, "BRD-C", 2)
    assert (services.redis.zcard(LINES_ZSET), int(services.redis.get(LINES_TOTAL))) == (2, 5)
    drain()
    assert (services.redis.zcard(LINES_ZSET), int(services.redis.get(LINES_TOTAL))) == (0, 0)


def test_available_puts_the_fewest_free_units_first(client, services, six, drain):
    with services.db.writing() as session, session.begin():
        session.execute(update(Product).where(Product.sku == "BRD-E").values(on_hand=0))
    bump(services, "BRD-F", 4)  # 15 on hand, 4 held: 11 free, as many as BRD-B
    drain()
    rows = board(client, sortBy="available").get_json()["skus"]
    assert [(r["sku"], r["available"]) for r in rows] == [
        ("BRD-E", 0), ("BRD-A", 10), ("BRD-B", 11), ("BRD-F", 11), ("BRD-C", 12), ("BRD-D", 13),
    ]  # fmt: skip


def test_expiring_puts_the_most_units_expiring_within_a_minute_first(client, services, config, six, drain):
    request_hold(services, "e" * 40, "BRD-A", 3)
    drain()  # held for ten minutes: not expiring soon
    config.HOLD_TTL_SECONDS = 30
    request_hold(services, "f" * 40, "BRD-D", 1)
    request_hold(services, "g" * 40, "BRD-C", 2)
    drain()
    rows = board(client, sortBy="expiring").get_json()["skus"]
    assert [(r["sku"], r["expiring_next_minute"]) for r in rows] == [
        ("BRD-C", 2), ("BRD-D", 1), ("BRD-A", 0), ("BRD-B", 0), ("BRD-E", 0), ("BRD-F", 0),
    ]  # fmt: skip


# --- the SKU/name filter ----------------------------------------------------------------------


@pytest.mark.parametrize("search", ["mouse", "MOUSE", "mOuSe", " Mouse "])
def test_search_matches_names_ignoring_case(client, six, search):
    assert skus_of(board(client, search=search)) == ["BRD-B", "BRD-D", "BRD-F"]


def test_search_matches_part_of_a_sku(client, six):
    assert skus_of(board(client, search="rd-e")) == ["BRD-E"]


def test_search_keeps_the_order_and_leaves_out_hot_skus_that_do_not_match(client, services, six):
    bump(services, "BRD-A", 2)  # hot, but a Kaos
    bump(services, "BRD-F", 1)
    assert skus_of(board(client, search="mouse")) == ["BRD-F", "BRD-B", "BRD-D"]


@pytest.mark.parametrize("sort_by", ["hottest", "in_line", "available", "expiring"])
def test_a_search_that_matches_nothing_gives_an_empty_last_page(client, six, sort_by):
    body = board(client, search="no such thing", sortBy=sort_by).get_json()
    assert body["skus"] == [] and body["next_cursor"] is None


def test_search_treats_like_wildcards_as_text(client, six):
    assert skus_of(board(client, search="%")) == []
    assert skus_of(board(client, search="_")) == []


# --- the cursor -------------------------------------------------------------------------------


@pytest.mark.parametrize("sort_by", ["hottest", "in_line", "available", "expiring"])
def test_a_cursor_walk_shows_every_sku_exactly_once(client, services, config, drain, sort_by):
    with services.db.writing() as session:
        seed_big_catalog(session, 23)
    everything = sorted(skus_of(board(client, limit=500)))
    # Activity, holds expiring soon and lines on a few SKUs, so the walk crosses from a ranking
    # to the rest.
    config.HOLD_TTL_SECONDS = 30
    for times, sku in enumerate(everything[5:12], start=1):
        bump(services, sku, times)
    drain()
    for times, sku in enumerate(everything[14:20], start=1):
        bump(services, sku, times)
    shown = walk(client, sortBy=sort_by, limit=4)
    assert sorted(shown) == everything
    assert len(shown) == len(set(shown))


def test_a_filtered_walk_shows_every_match_exactly_once(client, services):
    with services.db.writing() as session:
        seed_big_catalog(session, 60)
    matches = skus_of(board(client, limit=500, search="a"))
    bump(services, matches[-1], 2)
    shown = walk(client, search="A", limit=7)
    assert sorted(shown) == sorted(matches) and len(shown) == len(set(shown))


def test_a_walk_follows_the_ranking_of_its_first_page(client, services, six):
    bump(services, "BRD-B", 2)
    bump(services, "BRD-C", 1)
    first = board(client, limit=2).get_json()
    assert skus_of_body(first) == ["BRD-B", "BRD-C"]
    # Meanwhile BRD-F becomes the hottest lane and BRD-A joins the ranking.
    bump(services, "BRD-F", 5)
    bump(services, "BRD-A", 1)
    rest = walk_from(client, first["next_cursor"], limit=2)
    assert rest == ["BRD-A", "BRD-D", "BRD-E", "BRD-F"]
    # A new walk, once the kept ranking's time bucket has passed, sees the new ranking.
    for key in services.redis.scan_iter(f"{RANKING_PREFIX}*"):
        services.redis.delete(key)
    assert skus_of(board(client, limit=3)) == ["BRD-F", "BRD-B", "BRD-A"]


def test_a_cursor_whose_ranking_has_expired_says_so(client, services, six):
    bump(services, "BRD-B", 1)
    cursor = board(client, limit=2).get_json()["next_cursor"]
    for key in services.redis.scan_iter(f"{RANKING_PREFIX}*"):
        services.redis.delete(key)
    response = board(client, cursor=cursor)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "cursor_expired"


def skus_of_body(body) -> list[str]:
    return [row["sku"] for row in body["skus"]]


def walk_from(client, cursor: str, limit: int) -> list[str]:
    seen: list[str] = []
    while cursor:
        body = board(client, cursor=cursor, limit=limit).get_json()
        seen += skus_of_body(body)
        cursor = body["next_cursor"]
    return seen


# --- metrics and samples ----------------------------------------------------------------------


def _series(text: str, name: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(\{{[^}}]*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


def test_metrics_show_the_busiest_lanes_and_totals_over_all(small_shop, make_product):
    services, client = small_shop
    for sku in SKUS[:4]:
        make_product(sku)
    for times, sku in enumerate(SKUS[:4], start=1):
        bump(services, sku, times)
    scrape = client.get("/metrics", headers=OPERATOR_HEADERS).get_data(as_text=True)
    assert _series(scrape, "shop_queue_depth") == {'{lane="sku:BRD-C"}': 3.0, '{lane="sku:BRD-D"}': 4.0}
    assert _series(scrape, "shop_queue_depth_all_lanes") == {"": 10.0}
    assert _series(scrape, "shop_lanes_with_a_line") == {"": 4.0}
    assert _series(scrape, "shop_lanes") == {"": 4.0}


def test_metrics_count_applied_requests_per_busy_lane_and_over_all(small_shop, make_product):
    from workers.consumer import Consumer

    services, client = small_shop
    for sku in SKUS[:4]:
        make_product(sku, on_hand=2)
    for times, sku in enumerate(SKUS[:4], start=1):
        bump(services, sku, times)
    Consumer(services).run(burst=True)
    scrape = client.get("/metrics", headers=OPERATOR_HEADERS).get_data(as_text=True)
    per_lane = _series(scrape, "shop_requests_applied_total")
    assert set(per_lane) == {
        '{lane="sku:BRD-C",outcome="held"}', '{lane="sku:BRD-C",outcome="sold_out"}',
        '{lane="sku:BRD-D",outcome="held"}', '{lane="sku:BRD-D",outcome="sold_out"}',
    }  # fmt: skip
    assert _series(scrape, "shop_requests_applied_all_lanes_total") == {
        '{outcome="held"}': 7.0,  # 1 + 2 + 2 + 2
        '{outcome="sold_out"}': 3.0,  # 0 + 0 + 1 + 2
    }


def test_the_sparklines_sample_only_the_hottest_lanes(small_shop, make_product):
    services, _client = small_shop
    for sku in SKUS:
        make_product(sku)
    bump(services, "BRD-E", 2)
    bump(services, "BRD-B", 1)
    record_samples(services)
    sampled = {sku for sku in SKUS if services.redis.exists(lane_key(sku_lane(sku), "history"))}
    # The two hot lanes, then the first other SKU in SKU order: three, as HOT_LANES says.
    assert sampled == {"BRD-E", "BRD-B", "BRD-A"}
    assert services.redis.ttl(lane_key(sku_lane("BRD-E"), "history")) > 0


# --- the board page ---------------------------------------------------------------------------


def test_the_board_page_shows_one_page_with_a_next_link(client, six):
    html = client.get("/admin?limit=4", headers=OPERATOR_HEADERS).get_data(as_text=True)
    assert re.findall(r'href="/admin/board/(BRD-\w)"', html) == SKUS[:4]
    next_url = re.search(r'<a href="([^"]+)" rel="next">Next</a>', html).group(1).replace("&amp;", "&")
    second = client.get(next_url, headers=OPERATOR_HEADERS).get_data(as_text=True)
    assert re.findall(r'href="/admin/board/(BRD-\w)"', second) == SKUS[4:]
    assert 'rel="next"' not in second and "First page" in second


def test_the_board_page_searches_and_says_when_nothing_matches(client, six):
    html = client.get("/admin?search=MOUSE", headers=OPERATOR_HEADERS).get_data(as_text=True)
    assert re.findall(r'href="/admin/board/(BRD-\w)"', html) == ["BRD-B", "BRD-D", "BRD-F"]
    assert 'value="mouse"' in html
    nothing = client.get("/admin?search=zzz", headers=OPERATOR_HEADERS).get_data(as_text=True)
    assert "No SKU matches" in nothing


def test_the_board_page_explains_bad_input(client, six):
    response = client.get("/admin?limit=9999", headers=OPERATOR_HEADERS)
    assert response.status_code == 400
    assert "limit must be a whole number" in response.get_data(as_text=True)


def test_pausing_from_a_later_page_returns_to_that_page(client, services, six):
    html = client.get("/admin?limit=4", headers=OPERATOR_HEADERS).get_data(as_text=True)
    next_url = re.search(r'<a href="([^"]+)" rel="next">Next</a>', html).group(1).replace("&amp;", "&")
    response = client.post("/admin/board/BRD-E/pause", data={"back": next_url}, headers=OPERATOR_HEADERS)
    assert response.status_code == 303 and response.headers["Location"].endswith(next_url)
    assert services.lanes.is_paused(sku_lane("BRD-E"))
    elsewhere = client.post(
        "/admin/board/BRD-E/resume", data={"back": "https://evil.example/"}, headers=OPERATOR_HEADERS
    )
    assert elsewhere.headers["Location"].endswith("/admin") and "evil" not in elsewhere.headers["Location"]
