"""Catalog search through the databases' own text engines: words, prefixes, accents, relevance."""

from __future__ import annotations

import pytest

from tests.helpers import OPERATOR, assert_error, listing, skus

# sku: (name, category, description)
SHOP = {
    "KAOS-1": ("Kaos Polos Katun Hitam", "fashion", "Kaos lengan pendek, bahan adem"),
    "KAOS-2": ("Kemeja Flanel", "fashion", "Cocok dipadukan dengan kaos polos"),
    "SEPATU-1": ("Sepatu Lari Pria", "fashion", "Ringan untuk lari pagi"),
    "MOUSE-1": ("Mouse Nirkabel Hening", "electronic", "Wireless mouse, silent clicks"),
    "CAFE-1": ("Kopi Café Crème", "groceries", "Biji kopi sangrai"),
    "PAD-1": ("Alas Meja", "accessories", "Cukup untuk keyboard dan mouse"),
}


@pytest.fixture
def shop_catalog(make_product) -> None:
    for sku, (name, category, description) in SHOP.items():
        make_product(sku, name=name, category=category, description=description)


@pytest.mark.parametrize("term", ["kaos", "KAOS", "Kaos", "kAoS"])
def test_an_indonesian_word_is_found_in_any_case(client, shop_catalog, term):
    assert sorted(skus(listing(client, search=term))) == ["KAOS-1", "KAOS-2"]


@pytest.mark.parametrize("term", ["cafe", "CAFÉ", "café", "creme", "CRÈME"])
def test_accents_are_ignored_on_either_side(client, shop_catalog, term):
    assert skus(listing(client, search=term)) == ["CAFE-1"]


def test_the_beginning_of_a_word_finds_the_word(client, shop_catalog):
    assert skus(listing(client, search="sepa")) == ["SEPATU-1"]


def test_every_word_must_match(client, shop_catalog):
    assert skus(listing(client, search="kaos hitam")) == ["KAOS-1"]
    assert skus(listing(client, search="kaos sepatu")) == []


def test_words_of_the_category_are_found_too(client, shop_catalog):
    assert sorted(skus(listing(client, search="groceries"))) == ["CAFE-1"]


def test_a_word_nobody_sells_finds_nothing(client, shop_catalog):
    body = listing(client, search="zzzqx")
    assert body["items"] == []
    assert body["total"] == 0
    assert body["next_cursor"] is None


def test_a_search_sorts_by_relevance_unless_asked_otherwise(client, shop_catalog):
    # "Mouse" in MOUSE-1's name outweighs "mouse" in PAD-1's description.
    assert skus(listing(client, search="mouse")) == ["MOUSE-1", "PAD-1"]
    assert skus(listing(client, search="mouse", sortBy="relevance")) == ["MOUSE-1", "PAD-1"]
    assert skus(listing(client, search="mouse", sortBy="name")) == ["PAD-1", "MOUSE-1"]


def test_relevance_without_a_search_is_refused(client, shop_catalog):
    error = assert_error(client.get("/catalogs?sortBy=relevance"), 400)
    assert error["code"] == "invalid_sort"


def test_a_renamed_product_is_found_by_its_new_name_only(client, shop_catalog):
    response = client.put("/admin/products/SEPATU-1", json={"name": "Sandal Gunung"}, auth=OPERATOR)
    assert response.status_code == 200, response.get_json()
    assert skus(listing(client, search="sandal")) == ["SEPATU-1"]
    assert skus(listing(client, search="sepatu")) == []


def test_stock_changes_leave_the_search_as_it_was(client, shopper, drain, shop_catalog):
    assert shopper.add("KAOS-1", 2).status_code == 202
    drain()
    found = listing(client, search="hitam")["items"]
    assert [(item["sku"], item["available"]) for item in found] == [("KAOS-1", 8)]
