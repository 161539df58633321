"""Catalog paging at any depth: the cursor, the count cap, the depth limit, ended flash prices."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest

from shop.domain import catalog
from shop.lanes.expiry import sweep
from shop.storage.models import Product, utcnow
from tests.helpers import assert_error, listing, set_product, skus

SORTS = ["sales", "price", "discount", "name", "available", "newest"]
# Prices and sales repeat, so ties must be broken the same way on every page.
PRICES = [50_000, 75_000, 50_000, 120_000, 75_000, 50_000, 99_000, 120_000, 30_000, 75_000, 50_000]


@pytest.fixture
def many(services, make_product) -> list[str]:
    """Eleven products with repeated prices and sales, one flash sale running and one ended."""
    now = utcnow()
    made = []
    for index, price in enumerate(PRICES):
        sku = f"P-{index:02d}"
        made.append(
            make_product(sku, on_hand=index % 4, name=f"Produk {index % 5}", category=("a", "b")[index % 2])
        )
        set_product(services, sku, normal_price=price, price=price, sales=index % 3)
    set_product(services, "P-03", price=60_000, sale_ends_at=now + timedelta(hours=1))
    set_product(services, "P-07", price=10_000, sale_ends_at=now - timedelta(minutes=1))
    return made


def walk(client, **params: Any) -> list[str]:
    """Every page of a listing by following next_cursor, the pages' SKUs in order."""
    body = listing(client, **params)
    seen = skus(body)
    while body["next_cursor"]:
        body = listing(client, cursor=body["next_cursor"])
        seen += skus(body)
    return seen


@pytest.mark.parametrize("sort_by", SORTS)
@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_following_next_cursor_lists_every_product_once_in_the_sorts_order(client, many, sort_by, sort_dir):
    whole = skus(listing(client, sortBy=sort_by, sortDir=sort_dir, limit=100))
    assert sorted(whole) == sorted(many)
    assert walk(client, sortBy=sort_by, sortDir=sort_dir, limit=3) == whole


@pytest.mark.parametrize("sort_by", SORTS)
@pytest.mark.parametrize("search", [None, "produk"])
def test_numbered_pages_list_every_product_once_in_the_sorts_order(client, many, sort_by, search):
    params = {"sortBy": sort_by, **({"search": search} if search else {})}
    whole = skus(listing(client, limit=100, **params))
    pages = [skus(listing(client, limit=3, page=page, **params)) for page in range(1, 5)]
    assert [sku for page in pages for sku in page] == whole


def test_a_cursor_walk_keeps_the_category_and_search(client, many):
    whole = skus(listing(client, category="a", search="produk", sortBy="price", limit=100))
    assert len(whole) == 6
    assert walk(client, category="a", search="produk", sortBy="price", limit=2) == whole


@pytest.mark.parametrize("sort_by", ["price", "discount"])
@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_a_search_orders_by_the_moments_price_as_the_catalog_does(client, many, sort_by, sort_dir):
    # Every product matches "produk": the search path (one sorted set of matches) and the catalog
    # path (the index halves, ended flash sales apart) must agree, the ended P-07 included.
    params = {"sortBy": sort_by, "sortDir": sort_dir, "limit": 100}
    assert skus(listing(client, search="produk", **params)) == skus(listing(client, **params))
    assert walk(client, search="produk", sortBy=sort_by, sortDir=sort_dir, limit=4) == skus(
        listing(client, **params)
    )


def test_a_search_walked_by_relevance_lists_every_match_once(client, many):
    whole = skus(listing(client, search="produk", limit=100))
    assert walk(client, search="produk", limit=4) == whole


def test_a_cursor_page_counts_its_place(client, many):
    first = listing(client, limit=4)
    second = listing(client, cursor=first["next_cursor"])
    assert (first["page"], second["page"]) == (1, 2)
    assert second["limit"] == 4
    assert second["total"] == first["total"] == 11


def test_the_last_page_has_no_next_cursor(client, many):
    assert listing(client, limit=11)["next_cursor"] is None
    assert listing(client, limit=10)["next_cursor"] is not None


def test_a_cursor_sent_with_its_own_parameters_is_accepted(client, many):
    cursor = listing(client, sortBy="name", limit=3)["next_cursor"]
    alone = skus(listing(client, cursor=cursor))
    assert skus(listing(client, cursor=cursor, sortBy="name", limit=3)) == alone


@pytest.mark.parametrize("params", [{"sortBy": "price"}, {"limit": "5"}, {"search": "x"}, {"page": "7"}])
def test_a_cursor_sent_with_another_listings_parameters_is_refused(client, many, params):
    cursor = listing(client, sortBy="name", limit=3)["next_cursor"]
    error = assert_error(client.get("/catalogs", query_string={"cursor": cursor, **params}), 400)
    assert error["code"] == "cursor_mismatch"


def forged(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "%%%",
        forged([1, 2]),
        forged({"q": ["name", "asc", "", "", "3"], "p": 2}),
        forged({"q": ["name", "asc", "", "", "3"], "p": 2, "k": [5, "P-01"]}),  # a number for a name
        # a moment with no time zone
        forged({"q": ["newest", "asc", "", "", "3"], "p": 2, "k": ["2026-01-01T00:00:00", "P-01"]}),
        forged({"q": ["price", "asc", "", "", "3"], "p": 2, "k": [10**30, "P-01"]}),
        forged({"q": ["price", "asc", "", "", "999"], "p": 2, "k": [1, "P-01"]}),
        forged({"q": ["bogus", "asc", "", "", "3"], "p": 2, "k": [1, "P-01"]}),
        "A" * 2000,
    ],
)
def test_a_cursor_the_catalog_did_not_give_out_is_refused(client, many, cursor):
    error = assert_error(client.get("/catalogs", query_string={"cursor": cursor}), 400)
    assert error["code"] in {"invalid_cursor", "invalid_limit", "invalid_sort"}


def test_a_page_deeper_than_the_offset_limit_is_refused_and_names_the_cursor(client, many):
    deepest = catalog.MAX_OFFSET // 100
    assert listing(client, page=deepest, limit=100)["items"] == []
    error = assert_error(client.get("/catalogs", query_string={"page": deepest + 1, "limit": 100}), 400)
    assert error["code"] == "page_too_deep"
    assert "next_cursor" in error["message"]


def test_more_matches_than_the_count_cap_make_total_a_lower_bound(client, many, monkeypatch):
    monkeypatch.setattr(catalog, "COUNT_CAP", 5)
    body = listing(client, limit=2)
    assert (body["total"], body["total_is_lower_bound"], body["pages"]) == (5, True, 3)
    exact = listing(client, category="b", limit=2)
    assert (exact["total"], exact["total_is_lower_bound"]) == (5, False)


@pytest.mark.parametrize("page", [1, 3, 20])
def test_a_searchs_total_counts_every_match_on_any_page_even_past_the_last(client, many, page):
    body = listing(client, search="produk", category="b", limit=2, page=page)
    assert (body["total"], body["total_is_lower_bound"], body["pages"]) == (5, False, 3)


def test_a_searchs_total_stays_the_same_along_its_cursor(client, many):
    first = listing(client, search="produk", limit=3, sortBy="price")
    second = listing(client, cursor=first["next_cursor"])
    assert first["total"] == second["total"] == 11


def test_more_search_matches_than_the_count_cap_make_total_a_lower_bound(client, many, monkeypatch):
    monkeypatch.setattr(catalog, "COUNT_CAP", 5)
    body = listing(client, search="produk", limit=2)
    assert (body["total"], body["total_is_lower_bound"], body["pages"]) == (5, True, 3)


def test_an_ended_flash_price_sorts_by_the_normal_price(client, many):
    order = skus(listing(client, sortBy="price", limit=100))
    # P-07's flash price (10,000) ended: it costs its normal 120,000 again, after P-06's 99,000.
    assert order.index("P-07") > order.index("P-06")
    # P-03's flash price (60,000) runs: it sits between the 50,000s and the 75,000s.
    assert order[order.index("P-03") - 1] in {"P-00", "P-02", "P-05", "P-10"}


def test_the_sweeper_makes_an_ended_flash_price_the_stored_price_and_the_order_stays(client, services, many):
    before = skus(listing(client, sortBy="price", limit=100))
    discounts = skus(listing(client, sortBy="discount", limit=100))

    assert sweep(services.db, services.lanes, services.config.CHECKOUT_LANES)["flash_prices"] == 1

    with services.db.reading() as session:
        ended, running = session.get(Product, "P-07"), session.get(Product, "P-03")
        assert (ended.price, ended.normal_price, ended.sale_ends_at) == (120_000, 120_000, None)
        assert (running.price, running.sale_ends_at is not None) == (60_000, True)
    assert skus(listing(client, sortBy="price", limit=100)) == before
    assert skus(listing(client, sortBy="discount", limit=100)) == discounts
    assert sweep(services.db, services.lanes, services.config.CHECKOUT_LANES)["flash_prices"] == 0


def test_the_storefront_next_link_carries_the_cursor_to_the_following_products(client, many, make_product):
    for index in range(3):
        make_product(f"Q-{index}", price=200_000 + index)
    html = client.get("/?sort=price", headers={"Accept": "text/html"}).get_data(as_text=True)
    next_href = unescape(re.search(r'rel="next" href="([^"]+)"', html).group(1))
    assert "cursor=" in next_href and "page=" not in next_href
    following = client.get(next_href, headers={"Accept": "text/html"})
    assert following.status_code == 200
    expected = skus(listing(client, sortBy="price", sortDir="asc", limit=100))[12:]
    shown = re.findall(r'href="/p/([A-Z0-9-]+)"', following.get_data(as_text=True))
    assert list(dict.fromkeys(shown)) == expected
