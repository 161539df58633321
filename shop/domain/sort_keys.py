"""How the catalog orders products: each sort's key in SQL, read in the order of its index.

Every sort breaks ties by SKU in the sort's own direction, so one (key, sku) index (migration
0009) serves a sort both ways, and a page after a cursor is one index seek.

The current price depends on the moment: a flash price ends at ``sale_ends_at``. The sweeper
makes an ended flash price the stored price for good (``pricing.end_flash_prices``), so the
products whose sale has ended without the row saying so yet are few: the price and discount
sorts read them by the ``sale_ends_at`` index, keyed by their normal price (no discount), and
every other product in the order of its price index, and merge the two halves. The order is
exact at every moment, and nothing sorts the catalog. (The merge compares SKUs as Python does,
by code point, as the databases do under the C collation; under another PostgreSQL collation
two products of equal price, one in each half, may swap places.) ``available`` sorts by
what the stored figures leave (``FREE_UNITS``); a hold past its expiry still counts there for the
second or two until its lane frees it, while the ``available`` shown already leaves it out.
"""

from __future__ import annotations

from datetime import datetime
from heapq import merge
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, literal, literal_column, not_, select, tuple_
from sqlalchemy.orm import Session

from shop.domain.pricing import discount_column, price_column, sale_ended
from shop.storage.models import FLASH_DISCOUNT, FREE_UNITS, Product

# The column of a page's keys that counts the products its query selects (its total).
MATCHED = "matched"
# One part of a sort: the products it covers (None: all) and their key.
Arm = tuple[ColumnElement[bool] | None, Any]


def arms(sort_by: str, now: datetime, relevance: Any, searching: bool = False) -> list[Arm]:
    """The parts a sort reads, each in the order of one index; the part covering the most last.

    A search's matches are collected first and sorted (see ``part_statements``), so its price and
    discount are one part, keyed by the moment's price itself: one pass over the text index.
    """
    ended = sale_ended(now)
    if searching and sort_by == "price":
        return [(None, price_column(now))]
    if searching and sort_by == "discount":
        return [(None, discount_column(now))]
    return {
        "sales": lambda: [(None, Product.sales)],
        "name": lambda: [(None, Product.name)],
        "newest": lambda: [(None, Product.created_at)],
        "available": lambda: [(None, FREE_UNITS)],
        "relevance": lambda: [(None, relevance)],
        # The ended half is read by its sale_ends_at index only: "+ 0" keeps the planner from
        # seeking a cursor in the normal_price index and filtering the whole catalog for the few.
        "price": lambda: [(ended, Product.normal_price + literal_column("0")), (not_(ended), Product.price)],
        "discount": lambda: [(ended, literal_column("0")), (not_(ended), FLASH_DISCOUNT)],
    }[sort_by]()


def page_keys(session: Session, statements: list[Select[Any]], query: Any) -> list[Row[Any]]:
    """(sku, sort_key[, matched]) rows of the query's page, plus one more to tell whether another follows.

    A sort of one part skips to its page in the database. A sort of two parts reads the few
    first (the sales ended but not yet swept): when there are none, which is what the sweeper
    leaves, the rest skips to its page in the database too. Otherwise it reads at most
    offset + limit + 1 rows of each, in index order, and merges them here: the plan of each is a
    plain index range, whatever either planner thinks of a merge.
    """
    offset = 0 if query.after is not None else (query.page - 1) * query.limit
    *few, most = statements
    wanted = offset + query.limit + 1
    early = [session.execute(part.limit(wanted)).all() for part in few]
    if not any(early):
        return list(session.execute(most.offset(offset).limit(query.limit + 1)).all())
    parts = [*early, session.execute(most.limit(wanted)).all()]
    merged = merge(*parts, key=lambda r: (r.sort_key, r.sku), reverse=query.sort_dir == "desc")
    return list(merged)[offset:wanted]


def part_statements(
    base: Select[Any], few_base: Select[Any], query: Any, now: datetime, relevance: Any, count: Any | None
) -> list[Select[Any]]:
    """Each part of the query's sort as a select of (sku, sort_key) rows in the part's index order.

    A part covering a few products starts from ``few_base``: the same products as ``base``, with
    no condition that would lead a planner to an index other than the few's own. Unless ``count``
    is None, the part covering the most also carries it (a scalar subquery, which both databases
    evaluate once per statement) as a third column, ``MATCHED``, so the page's total needs no
    statement of its own; a search counts the matches it collected instead.
    """
    descending = query.sort_dir == "desc"
    statements = []
    parts = arms(query.sort_by, now, relevance, searching=bool(query.search))
    for index, (covers, key) in enumerate(parts):
        labelled = key.label("sort_key")
        part = (base if index == len(parts) - 1 else few_base).add_columns(labelled)
        if covers is not None:
            part = part.where(covers)
        if query.search:
            statements.append(_matches_in_order(part, query.after, descending, counted=count is not None))
            continue
        if query.after is not None:
            part = part.where(_past(key, Product.sku, query.after, descending))
        if index == len(parts) - 1 and count is not None:
            part = part.add_columns(count.label(MATCHED))
        statements.append(part.order_by(*_order(labelled, Product.sku, descending)))
    return statements


def _matches_in_order(
    part: Select[Any], after: tuple[Any, str] | None, descending: bool, counted: bool
) -> Select[Any]:
    """A search's matches collected from its own index, then sorted and counted, past the cursor.

    Collecting first keeps every planner from walking a sort index hoping to meet matches (and
    reading all of it when there are none). All matches are collected on any page, so they are
    counted from the collection too: a second pass over the text index and the rows was a third
    of a search's time on PostgreSQL.
    """
    matches = part.cte("matches").prefix_with("MATERIALIZED")
    found = select(matches.c.sku, matches.c.sort_key)
    if counted:
        found = found.add_columns(select(func.count()).select_from(matches).scalar_subquery().label(MATCHED))
    if after is not None:
        found = found.where(_past(matches.c.sort_key, matches.c.sku, after, descending))
    return found.order_by(*_order(matches.c.sort_key, matches.c.sku, descending))


def _order(key: Any, sku: Any, descending: bool) -> tuple[Any, Any]:
    return (key.desc(), sku.desc()) if descending else (key.asc(), sku.asc())


def _past(key: Any, sku_column: Any, after: tuple[Any, str], descending: bool) -> ColumnElement[bool]:
    value, sku = after
    bound = tuple_(literal(value, getattr(key, "type", None)), literal(sku, Product.sku.type))
    row = tuple_(key, sku_column)
    return row < bound if descending else row > bound
