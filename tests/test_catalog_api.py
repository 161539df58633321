"""The catalog API: GET /catalogs (paging, sorting, filtering, searching) and GET /catalogs/<sku>."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from shop.storage.models import Product
from tests.helpers import assert_error, listing, set_product, skus

# sku: (name, category, price, on_hand, sales, description); created in this order, oldest first.
CATALOG: dict[str, tuple[str, str, int, int, int, str]] = {
    "KB-1": ("Mechanical Keyboard", "Electronic", 750_000, 8, 40, "Hot-swappable switches"),
    "MS-1": ("Wireless Mouse", "Electronic", 150_000, 20, 90, "Silent clicks, long battery"),
    "PAD-1": ("Desk Pad", "Accessories", 50_000, 3, 5, "Fits a keyboard and a MOUSE side by side"),
    "TEE-1": ("Cotton Tee", "Fashion", 99_000, 0, 12, "100% cotton"),
    "CAP-1": ("Baseball Cap", "Fashion", 120_000, 15, 0, "one_size fits all"),
}
CREATED_ORDER = list(CATALOG)

# Each sort key's ascending order of the catalog above (ties never occur, so the order is exact).
ASCENDING = {
    "sales": ["CAP-1", "PAD-1", "TEE-1", "KB-1", "MS-1"],
    "price": ["PAD-1", "TEE-1", "CAP-1", "MS-1", "KB-1"],
    "name": ["CAP-1", "TEE-1", "PAD-1", "KB-1", "MS-1"],
    "available": ["TEE-1", "PAD-1", "KB-1", "CAP-1", "MS-1"],
    "newest": CREATED_ORDER,
}

ITEM_FIELDS = {"sku", "name", "category", "price", "currency", "available", "sales"}


@pytest.fixture
def catalog(services, make_product) -> dict[str, tuple[str, str, int, int, int, str]]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for index, (sku, (name, category, price, on_hand, sales, description)) in enumerate(CATALOG.items()):
        make_product(sku, on_hand=on_hand, name=name, category=category, price=price, description=description)
        set_product(services, sku, sales=sales, created_at=start + timedelta(hours=index))
    return CATALOG


# --- shape and paging --------------------------------------------------------------------------


def test_listing_shows_each_product_with_its_price_in_rupiah_and_what_is_left(client, catalog):
    body = listing(client, sortBy="name")
    assert set(body) >= {"items", "page", "limit", "total", "pages"}
    keyboard = next(item for item in body["items"] if item["sku"] == "KB-1")
    assert set(keyboard) >= ITEM_FIELDS
    assert keyboard["name"] == "Mechanical Keyboard"
    assert keyboard["category"] == "electronic"
    assert keyboard["price"] == 750_000
    assert keyboard["currency"] == "IDR"
    assert keyboard["available"] == 8
    assert keyboard["sales"] == 40


def test_listing_defaults_to_the_first_page_of_ten(client, catalog):
    body = listing(client)
    assert body["page"] == 1
    assert body["limit"] == 10
    assert body["total"] == 5
    assert body["pages"] == 1
    assert len(body["items"]) == 5


def test_an_empty_catalog_has_no_items_and_no_pages(client, services):
    body = listing(client)
    assert body["items"] == []
    assert body["total"] == 0
    assert body["pages"] == 0


def test_pages_are_counted_from_total_and_limit(client, catalog):
    body = listing(client, limit=2)
    assert body["limit"] == 2
    assert body["total"] == 5
    assert body["pages"] == 3


def test_walking_the_pages_shows_every_product_once_in_order(client, catalog):
    pages = [listing(client, sortBy="price", limit=2, page=page) for page in (1, 2, 3)]
    assert [body["page"] for body in pages] == [1, 2, 3]
    assert [len(body["items"]) for body in pages] == [2, 2, 1]
    assert [sku for body in pages for sku in skus(body)] == ASCENDING["price"]


def test_a_page_past_the_end_is_empty_but_keeps_the_totals(client, catalog):
    body = listing(client, limit=2, page=4)
    assert body["items"] == []
    assert body["page"] == 4
    assert body["total"] == 5
    assert body["pages"] == 3


def test_the_largest_allowed_limit_is_one_hundred(client, catalog):
    assert listing(client, limit=100)["limit"] == 100


# --- sorting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sort_by", sorted(ASCENDING))
@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_listing_sorts_by_each_key_in_either_direction(client, catalog, sort_by, sort_dir):
    expected = ASCENDING[sort_by] if sort_dir == "asc" else ASCENDING[sort_by][::-1]
    assert skus(listing(client, sortBy=sort_by, sortDir=sort_dir)) == expected


def test_listing_shows_best_sellers_first_by_default(client, catalog):
    assert skus(listing(client)) == ASCENDING["sales"][::-1]


@pytest.mark.parametrize(
    ("sort_by", "descending"),
    [("sales", True), ("newest", True), ("price", False), ("name", False), ("available", False)],
)
def test_sort_direction_defaults_to_what_a_shopper_expects_of_the_key(client, catalog, sort_by, descending):
    expected = ASCENDING[sort_by][::-1] if descending else ASCENDING[sort_by]
    assert skus(listing(client, sortBy=sort_by)) == expected


def test_sort_direction_is_case_insensitive(client, catalog):
    assert skus(listing(client, sortBy="price", sortDir="DESC")) == ASCENDING["price"][::-1]


def test_sorting_by_available_follows_held_units(client, catalog, shopper, drain):
    accepted = shopper.add("MS-1", 5)
    assert accepted.status_code == 202
    drain()
    assert shopper.result(accepted)["outcome"] == "held"
    # MS-1 drops from 20 to 15 available, tying CAP-1; ties are broken by sku in the sort's
    # direction, so one (key, sku) index serves both directions.
    assert skus(listing(client, sortBy="available", sortDir="desc")) == [
        "MS-1",
        "CAP-1",
        "KB-1",
        "PAD-1",
        "TEE-1",
    ]
    assert skus(listing(client, sortBy="available", sortDir="asc")) == [
        "TEE-1",
        "PAD-1",
        "KB-1",
        "CAP-1",
        "MS-1",
    ]


# --- filtering and searching -------------------------------------------------------------------


@pytest.mark.parametrize("category", ["fashion", "FASHION", "Fashion", "  fashion  "])
def test_category_filter_ignores_case(client, catalog, category):
    body = listing(client, category=category, sortBy="name")
    assert skus(body) == ["CAP-1", "TEE-1"]
    assert body["total"] == 2
    assert body["pages"] == 1


def test_an_unknown_category_lists_nothing(client, catalog):
    body = listing(client, category="groceries")
    assert body["items"] == []
    assert body["total"] == 0
    assert body["pages"] == 0


@pytest.mark.parametrize("term", ["mouse", "MOUSE", "Mouse", "mOuSe"])
def test_search_matches_name_and_description_ignoring_case(client, catalog, term):
    # "Wireless Mouse" by name, "Desk Pad" by its description.
    body = listing(client, search=term, sortBy="name")
    assert skus(body) == ["PAD-1", "MS-1"]
    assert body["total"] == 2


@pytest.mark.parametrize("term", ["Écran", "écran", "ÉCRAN"])
def test_search_ignores_case_of_accented_letters_too(client, make_product, term):
    make_product("SCREEN-1", name="Écran Plat 24", category="electronic")
    assert skus(listing(client, search=term)) == ["SCREEN-1"]


def test_search_finds_words_only_in_the_description(client, catalog):
    assert skus(listing(client, search="silent")) == ["MS-1"]


def test_search_matches_part_of_a_word(client, catalog):
    assert skus(listing(client, search="keyb", sortBy="name")) == ["PAD-1", "KB-1"]


def test_a_blank_search_lists_everything(client, catalog):
    assert listing(client, search="   ")["total"] == 5


def test_search_of_the_largest_allowed_length_is_accepted(client, catalog):
    body = listing(client, search="x" * 100)
    assert body["items"] == []
    assert body["total"] == 0


def test_category_and_search_combine(client, catalog):
    body = listing(client, category="ELECTRONIC", search="mouse")
    assert skus(body) == ["MS-1"]
    assert body["total"] == 1


def test_category_and_search_that_exclude_each_other_list_nothing(client, catalog):
    assert listing(client, category="electronic", search="cotton")["total"] == 0


def test_filters_sorting_and_paging_combine(client, catalog):
    first = listing(client, category="electronic", sortBy="price", sortDir="asc", limit=1, page=1)
    second = listing(client, category="electronic", sortBy="price", sortDir="asc", limit=1, page=2)
    assert skus(first) == ["MS-1"]
    assert skus(second) == ["KB-1"]
    assert first["total"] == second["total"] == 2
    assert first["pages"] == second["pages"] == 2


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("%", ["TEE-1"]),  # only "100% cotton" contains a literal percent sign
        ("100%", ["TEE-1"]),
        ("_", ["CAP-1"]),  # only "one_size" contains a literal underscore
        ("c_p", []),  # as a LIKE pattern this would match "Baseball Cap"
        ("t%e", []),  # as a LIKE pattern this would match "Cotton Tee"
        ("%%", []),
        ("\\", []),
        ("' OR 1=1 --", []),
        ("' OR '1'='1", []),
        ('"; DROP TABLE products; --', []),
    ],
)
def test_search_treats_sql_and_wildcards_as_plain_text(client, services, catalog, term, expected):
    body = listing(client, search=term, sortBy="name")
    assert skus(body) == expected
    assert body["total"] == len(expected)
    with services.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Product)) == len(CATALOG)


# --- what is available -------------------------------------------------------------------------


def test_available_drops_by_the_units_held_once_the_hold_is_applied(client, catalog, shopper, drain):
    accepted = shopper.add("KB-1", 3)
    assert accepted.status_code == 202
    assert client.get("/catalogs/KB-1").get_json()["available"] == 8  # still waiting in line
    assert drain() == 1
    assert shopper.result(accepted)["outcome"] == "held"
    assert client.get("/catalogs/KB-1").get_json()["available"] == 5
    keyboard = next(item for item in listing(client)["items"] if item["sku"] == "KB-1")
    assert keyboard["available"] == 5


def test_a_sold_out_product_still_lists_with_nothing_available(client, catalog):
    tee = next(item for item in listing(client)["items"] if item["sku"] == "TEE-1")
    assert tee["available"] == 0


# --- one product -------------------------------------------------------------------------------


def test_one_product_shows_the_same_fields_as_the_listing(client, catalog):
    response = client.get("/catalogs/MS-1")
    assert response.status_code == 200
    product = response.get_json()
    listed = next(item for item in listing(client)["items"] if item["sku"] == "MS-1")
    assert set(product) >= ITEM_FIELDS
    assert product == listed
    assert product["description"] == "Silent clicks, long battery"
    assert product["currency"] == "IDR"


@pytest.mark.parametrize("sku", ["NOPE-1", "kb-1", "x' OR '1'='1", "%"])
def test_an_unknown_product_is_not_found(client, catalog, sku):
    error = assert_error(client.get(f"/catalogs/{sku}"), 404)
    assert error["code"] == "unknown_sku"


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"page": "0"}, "invalid_page"),
        ({"page": "-1"}, "invalid_page"),
        ({"page": "abc"}, "invalid_page"),
        ({"page": "1.5"}, "invalid_page"),
        ({"page": ""}, "invalid_page"),
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "101"}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"sortBy": "bogus"}, "invalid_sort"),
        ({"sortBy": "price; DROP TABLE products"}, "invalid_sort"),
        ({"sortDir": "sideways"}, "invalid_sort_dir"),
        ({"search": "x" * 101}, "search_too_long"),
    ],
    ids=lambda value: str(value)[:30] if isinstance(value, dict) else value,
)
def test_a_bad_parameter_is_refused_with_a_clear_error(client, catalog, params, code):
    error = assert_error(client.get("/catalogs", query_string=params), 400)
    assert error["code"] == code
