"""Every catalog sort and filter is read through an index in order: no scan or sort of the catalog,
and a page costs a fixed few statements (round trips), whatever its query.

The plans are the databases' own (``EXPLAIN QUERY PLAN`` on SQLite; ``EXPLAIN`` on PostgreSQL,
with sequential scans and sorts priced out so that a plan that still has one has no index to use).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, text

from shop.domain.catalog import CatalogQuery, list_products, page_parts
from shop.storage.models import utcnow
from tests.helpers import set_product

SORTS = ["sales", "price", "discount", "name", "available", "newest"]
CURSOR_KEYS = {"name": "Produk", "newest": utcnow() - timedelta(days=1)}


@contextmanager
def explained(engine) -> Iterator[None]:
    """Run the statements of the block as EXPLAIN of themselves."""
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "

    def explain(conn, cursor, statement, parameters, context, executemany):
        return prefix + statement, parameters

    event.listen(engine, "before_cursor_execute", explain, retval=True)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", explain)


def plans(services, query: CatalogQuery, sorting: bool = False, with_total: bool = False) -> list[str]:
    """The plan of each part of the query's page, as text (PostgreSQL may sort if ``sorting``);
    without the page's total unless ``with_total``, so the parts' own index use is what is seen."""
    engine = services.db.engine
    with services.db.reading() as session:
        if engine.dialect.name == "postgresql":
            session.connection().exec_driver_sql("SET enable_seqscan = off")
            session.connection().exec_driver_sql(f"SET enable_sort = {'on' if sorting else 'off'}")
        statements = page_parts(session, query, utcnow(), with_total=with_total)
        with explained(engine):
            # The raw rows: the plan's columns are not the statement's.
            results = [session.connection().execute(s.limit(11)).cursor.fetchall() for s in statements]
        return ["\n".join(str(row[-1]) for row in rows) for rows in results]


def the_catalog_part(parts: list[str], sort_by: str) -> list[str]:
    """The parts that read the catalog (price and discount also read the few ended flash sales)."""
    return parts[1:] if sort_by in ("price", "discount") else parts


@pytest.mark.parametrize("category", [None, "electronic"])
@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", SORTS)
@pytest.mark.parametrize("after", [False, True])
def test_every_sort_reads_its_index_in_order(services, make_product, sort_by, sort_dir, category, after):
    make_product("P-1")
    key = CURSOR_KEYS.get(sort_by, 10) if after else None
    query = CatalogQuery(
        limit=10, sort_by=sort_by, sort_dir=sort_dir, category=category, after=(key, "P-1") if after else None
    )
    for plan in the_catalog_part(plans(services, query), sort_by):
        if category:
            assert "ix_products_category_" in plan, plan
        if services.db.engine.dialect.name == "sqlite":
            assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
        else:
            assert "Seq Scan" not in plan and "Sort" not in plan, plan


@pytest.mark.parametrize("category", [None, "electronic"])
@pytest.mark.parametrize("sort_by", ["price", "discount"])
@pytest.mark.parametrize("after", [None, (10, "P-1")])
def test_ended_flash_sales_are_found_by_their_own_index_not_by_a_scan(
    services, make_product, sort_by, after, category
):
    make_product("P-1")
    # Sorting the few ended sales is the point: PostgreSQL may. Within a category too: the
    # category's own index would read every product of it.
    query = CatalogQuery(sort_by=sort_by, after=after, category=category)
    ended, _catalog = plans(services, query, sorting=True)
    assert "ix_products_sale_ends_at" in ended, ended


def test_a_search_reads_the_text_index(services, make_product):
    make_product("P-1", name="Kaos Polos")
    (plan,) = plans(services, CatalogQuery(sort_by="sales", search="kaos"))
    if services.db.engine.dialect.name == "sqlite":
        assert "VIRTUAL TABLE INDEX" in plan, plan
    else:
        assert "ix_products_search_vector" in plan, plan


def test_text_search_indexes_write_in_place_so_a_search_never_reads_a_pending_list(services):
    # A GIN index's pending list (fastupdate) is read in full by every search until a VACUUM:
    # a busy shop's stock updates keep it full (migration 0010).
    if services.db.engine.dialect.name != "postgresql":
        pytest.skip("GIN indexes are PostgreSQL's")
    with services.db.reading() as session:
        options = dict(
            session.execute(
                text(
                    "SELECT c.relname, array_to_string(c.reloptions, ',') FROM pg_class c "
                    "JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'gin'"
                )
            ).all()
        )
    assert options and all("fastupdate=off" in (found or "") for found in options.values()), options


@contextmanager
def statements_sent(engine) -> Iterator[list[str]]:
    """The statements the block sends to the database (SQLite's own BEGIN left out)."""
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement != "BEGIN":
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


ROUND_TRIP_QUERIES = {
    "first page": CatalogQuery(),
    "a category's deep page": CatalogQuery(category="electronic", page=3, limit=1),
    "a cursor page": CatalogQuery(sort_by="name", after=("Kaos 3", "P-3")),
    "the price sort": CatalogQuery(sort_by="price"),
    "a search by relevance": CatalogQuery(sort_by="relevance", search="kaos"),
    "a search's cursor page": CatalogQuery(sort_by="relevance", search="kaos", after=(1e9, "P-9")),
    "a search in a category": CatalogQuery(sort_by="sales", search="kaos", category="electronic"),
}


def page_and_statements(services, query: CatalogQuery) -> tuple[dict, list[str], int]:
    """The query's page, the statements it sent, and how many were expected: one per part of
    its sort, one for the products, and on PostgreSQL one planner setting for a search."""
    with services.db.reading() as session:
        parts = len(page_parts(session, query, utcnow()))
    with services.db.reading() as session, statements_sent(services.db.engine) as sent:
        page = list_products(session, query)
    planner_setting = services.db.engine.dialect.name == "postgresql" and query.search is not None
    return page, sent, parts + 1 + planner_setting


@pytest.mark.parametrize("query", ROUND_TRIP_QUERIES.values(), ids=ROUND_TRIP_QUERIES.keys())
def test_a_catalog_page_costs_one_statement_per_part_of_its_sort_and_one_for_its_products(
    services, make_product, query
):
    # Each statement is a round trip to the database (about a third of a millisecond on
    # PostgreSQL over loopback): the page's keys carry its count, its products carry their units.
    for index in range(4):
        make_product(f"P-{index}", name=f"Kaos {index}", uoms=[{"uom": "box", "conversion": 12}])
    page, sent, expected = page_and_statements(services, query)
    assert page["items"] and len(sent) == expected, sent
    assert all(item["uoms"][1]["uom"] == "box" for item in page["items"])


def test_a_price_page_that_begins_with_an_ended_flash_sale_still_counts_with_its_keys(services, make_product):
    for index in range(4):
        make_product(f"P-{index}", price=100_000 + index)
    ended = utcnow() - timedelta(minutes=1)
    set_product(services, "P-0", normal_price=50_000, price=10_000, sale_ends_at=ended)
    page, sent, expected = page_and_statements(services, CatalogQuery(sort_by="price", sort_dir="asc"))
    assert [item["sku"] for item in page["items"]] == ["P-0", "P-1", "P-2", "P-3"]
    assert page["total"] == 4 and len(sent) == expected, sent


@pytest.mark.parametrize("category", [None, "electronic"])
def test_a_pages_total_adds_no_scan_or_sort_to_its_keys(services, make_product, category):
    make_product("P-1")
    (plan,) = plans(services, CatalogQuery(category=category), with_total=True)
    if services.db.engine.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in plan and "SCAN products\n" not in plan + "\n", plan
    else:
        assert "Seq Scan" not in plan and "Sort" not in plan, plan
