"""The sale board a page at a time: four orders, a SKU/name filter, and a cursor that lists each SKU once.

The orders (``sortBy``):

* ``hottest`` (default): the SKUs whose lanes had the most recent arrivals first (the decayed
  activity in ``HOT_LANES_ZSET``, see ``shop/lanes/scripts/hot.lua``), then every SKU without recent
  activity, in SKU order;
* ``in_line``: the longest lines first (``LINES_ZSET``), then the SKUs with no line, in SKU order;
* ``expiring``: the most units in holds expiring within the next minute first, then the others,
  in SKU order;
* ``available``: the fewest free units first (on hand − reserved − allocated, ties in SKU order),
  over the whole catalog.

The first three begin with a *ranking* of at most ``HOT_LANES`` SKUs and go on with every other SKU
in SKU order. A ranking changes with every request during a sale, so a walk through the pages
follows the ranking as it was when the walk began: its first page keeps the ranking in Redis and
the cursor names it. Walks that begin within the same ``RANKING_BUCKET_S`` share one copy, so the
memory is bounded by time, not by how many operators or scripts page. A walk therefore lists every
SKU exactly once whatever happens meanwhile (it may miss a product created during the walk), with
live figures on every row. The copy lives ``RANKING_TTL_S`` after the last page read; a cursor whose
ranking is gone is refused with 400 ``cursor_expired``: start again from the first page.

``available`` pages are keyset pages over the live figures: a SKU whose stock changes during a walk
can move across the cursor. The order reads the stored figures; a hold past its expiry still counts
until the SKU's lane or the sweeper frees it (the row's ``available`` already leaves it out).

Only the page's products are read from the database (by primary key) and only the page's lanes
from Redis (``shop.lanes.metrics.board_rows``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.orm import Session

from shop.domain.errors import Malformed
from shop.lanes import metrics as monitoring
from shop.lanes.keys import lane_skus
from shop.storage.models import FREE_UNITS, Product, utcnow

SORTS = ("hottest", "in_line", "available", "expiring")
RANKED_SORTS = ("hottest", "in_line", "expiring")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_SEARCH_LENGTH = 100
MAX_CURSOR_LENGTH = 1000
# A ranking kept for walks: one key per sort and bucket of time, alive this long after its last read.
RANKING_PREFIX = "shop:board:ranking:"
RANKING_BUCKET_S = 2
RANKING_TTL_S = 300
CURSOR_SALT = "sale-board-cursor"
SKU_IN_CURSOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Position:
    """Where a walk stands: in the ranking (``index``) or after a SKU of the rest (``after_sku``).

    ``bucket`` names the kept ranking (None: the walk began with an empty ranking, or it is an
    ``available`` walk, which keeps ``after_free``, the last row's free units, with the SKU).
    """

    in_ranking: bool = True
    bucket: int | None = None
    index: int = 0
    after_sku: str | None = None
    after_free: int | None = None


@dataclass(frozen=True)
class BoardQuery:
    """A validated request for one page of the board."""

    limit: int = DEFAULT_LIMIT
    sort_by: str = "hottest"
    search: str | None = None
    position: Position = Position()

    @classmethod
    def walk(
        cls, limit: int, sort_by: str | None, search: str | None, cursor: str | None, secret: str
    ) -> BoardQuery:
        """The page asked for: a first page, or the next page of the walk ``cursor`` names, which the
        other parameters, where given, must agree with."""
        if not cursor:
            return cls(limit, sort_by or "hottest", search)
        cursor_sort, cursor_search, position = _decode(cursor, secret)
        if sort_by is not None and sort_by != cursor_sort:
            raise Malformed(
                f"This cursor walks sortBy={cursor_sort}; leave sortBy out or start a new walk.",
                code="invalid_cursor",
            )
        if search is not None and search != cursor_search:
            raise Malformed(
                "This cursor walks another search; leave search out or start a new walk.",
                code="invalid_cursor",
            )
        return cls(limit, cursor_sort, cursor_search, position)


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=CURSOR_SALT)


def _encode(secret: str, sort_by: str, search: str | None, position: Position) -> str:
    body: dict[str, Any] = {"s": sort_by, "q": search or ""}
    if position.bucket is not None:
        body["b"] = position.bucket
    if position.in_ranking:
        body["i"] = position.index
    else:
        body["k"] = position.after_sku
        if position.after_free is not None:
            body["a"] = position.after_free
    return _serializer(secret).dumps(body)


def _decode(raw: str, secret: str) -> tuple[str, str | None, Position]:
    """Read a cursor this board signed; anything else (or altered) is a 400."""
    refused = Malformed("cursor is not one this board gave out.", code="invalid_cursor")
    if len(raw) > MAX_CURSOR_LENGTH:
        raise refused
    try:
        body = _serializer(secret).loads(raw)
    except (BadData, ValueError, UnicodeError):
        raise refused from None
    if not isinstance(body, dict) or body.get("s") not in SORTS or not isinstance(body.get("q"), str):
        raise refused
    bucket, index, sku, free = body.get("b"), body.get("i"), body.get("k"), body.get("a")
    if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (bucket, index, free)):
        raise refused
    if (bucket is not None and bucket < 0) or (index is not None and index < 0):
        raise refused
    if sku is not None and not (isinstance(sku, str) and SKU_IN_CURSOR.match(sku)):
        raise refused
    if (index is None) == (sku is None) or (body["s"] == "available") != (free is not None and index is None):
        raise refused
    position = Position(
        in_ranking=index is not None, bucket=bucket, index=index or 0, after_sku=sku, after_free=free
    )
    return body["s"], body["q"] or None, position


def sale_board_page(services: Any, query: BoardQuery) -> dict[str, Any]:
    """One page of the board: its rows (as ``board_rows`` makes them) and the cursor of the next."""
    if query.sort_by == "available":
        skus, after = _available_page(services, query)
    else:
        skus, after = _ranked_page(services, query)
    secret = services.config.SECRET_KEY
    return {
        "skus": monitoring.board_rows(services, skus),
        "next_cursor": None if after is None else _encode(secret, query.sort_by, query.search, after),
        "limit": query.limit,
        "sortBy": query.sort_by,
    }


def _ranked_page(services: Any, query: BoardQuery) -> tuple[list[str], Position | None]:
    """The page's SKUs from the (kept) ranking and then the rest in SKU order, and where it ended."""
    position = query.position
    if position.bucket is None and position.in_ranking and position.index == 0:
        # A first page: this bucket's kept ranking if a walk began in it already, else the live one.
        bucket: int | None = int(time.time() // RANKING_BUCKET_S)
        kept = _read_ranking(services, query.sort_by, bucket)
        ranking = kept if kept is not None else _live_ranking(services, query.sort_by)
    elif position.bucket is None:
        # A walk that began with an empty ranking: the rest in SKU order is all there is.
        bucket, kept, ranking = None, [], []
    else:
        bucket = position.bucket
        kept = _read_ranking(services, query.sort_by, bucket)
        if kept is None:
            raise Malformed(
                "The ranking this cursor walks has expired; start again from the first page.",
                code="cursor_expired",
            )
        ranking = kept
    skus, after = _walk(services, query, ranking, position)
    if after is not None and kept is None and ranking:
        stored = _keep_ranking(services, query.sort_by, bucket, ranking)
        if stored != ranking:
            # Another walk kept this bucket's ranking first: follow that one, so that this page and
            # the next agree with it.
            ranking = stored
            skus, after = _walk(services, query, ranking, position)
    if after is None:
        return skus, None
    return skus, Position(after.in_ranking, bucket if ranking else None, after.index, after.after_sku)


def _walk(
    services: Any, query: BoardQuery, ranking: list[str], position: Position
) -> tuple[list[str], Position | None]:
    """Take ``limit`` SKUs from the position on, looking one further to know whether a next page exists."""
    want = query.limit + 1
    with services.db.reading() as session:
        ranked = _matching(session, ranking, query.search) if query.search else ranking
        taken: list[tuple[str, bool, int]] = []
        if position.in_ranking:
            for offset, sku in enumerate(ranked[position.index : position.index + want]):
                taken.append((sku, True, position.index + offset + 1))
        if len(taken) < want:
            after = None if position.in_ranking else position.after_sku
            for sku in _rest(session, after, want - len(taken), set(ranked), query.search):
                taken.append((sku, False, 0))
    if len(taken) < want:
        return [sku for sku, _r, _i in taken], None
    page = taken[: query.limit]
    last_sku, in_ranking, index = page[-1]
    return [sku for sku, _r, _i in page], Position(in_ranking, None, index, None if in_ranking else last_sku)


def _available_page(services: Any, query: BoardQuery) -> tuple[list[str], Position | None]:
    """A keyset page in (free units, SKU) order."""
    # FREE_UNITS is indexed with the SKU (migration 0009): a page is one index range.
    free = FREE_UNITS
    stmt = select(Product.sku, free)
    if query.search:
        stmt = stmt.where(_text_filter(services, query.search))
    position = query.position
    if position.after_sku is not None and position.after_free is not None:
        stmt = stmt.where(tuple_(free, Product.sku) > tuple_(position.after_free, position.after_sku))
    with services.db.reading() as session:
        rows = session.execute(stmt.order_by(free, Product.sku).limit(query.limit + 1)).all()
    page = rows[: query.limit]
    if len(rows) <= query.limit:
        return [sku for sku, _free in page], None
    last_sku, last_free = page[-1]
    return [sku for sku, _free in page], Position(False, None, 0, last_sku, int(last_free))


def _live_ranking(services: Any, sort_by: str) -> list[str]:
    """The sort's ranking now: at most HOT_LANES SKUs, first first."""
    count = services.config.HOT_LANES
    if sort_by == "hottest":
        return monitoring.hot_skus(services, count)
    if sort_by == "in_line":
        return lane_skus(services.lanes.longest_lines(count))
    with services.db.reading() as session:
        return monitoring.most_expiring(session, utcnow(), count)


def _ranking_key(sort_by: str, bucket: int) -> str:
    return f"{RANKING_PREFIX}{sort_by}:{bucket}"


def _read_ranking(services: Any, sort_by: str, bucket: int) -> list[str] | None:
    """Return a kept ranking (and keep it RANKING_TTL_S longer), or None if there is none."""
    raw = services.redis.getex(_ranking_key(sort_by, bucket), ex=RANKING_TTL_S)
    return None if raw is None else _split(raw)


def _keep_ranking(services: Any, sort_by: str, bucket: int, ranking: list[str]) -> list[str]:
    """Keep this bucket's ranking unless another walk did first; return the ranking kept."""
    earlier = services.redis.set(
        _ranking_key(sort_by, bucket), "\n".join(ranking), nx=True, ex=RANKING_TTL_S, get=True
    )
    return ranking if earlier is None else _split(earlier)


def _split(raw: bytes) -> list[str]:
    return [sku for sku in raw.decode().split("\n") if sku]


def _matching(session: Session, skus: list[str], search: str) -> list[str]:
    """Those of ``skus`` (in their order) whose SKU or name contains the search."""
    if not skus:
        return []
    found = set(
        session.scalars(select(Product.sku).where(Product.sku.in_(skus), _text_filter(session, search)))
    )
    return [sku for sku in skus if sku in found]


def _rest(
    session: Session, after: str | None, count: int, exclude: set[str], search: str | None
) -> list[str]:
    """The next ``count`` SKUs in SKU order after ``after``, leaving out the ranking's."""
    stmt = select(Product.sku).order_by(Product.sku)
    if after is not None:
        stmt = stmt.where(Product.sku > after)
    if search:
        stmt = stmt.where(_text_filter(session, search))
    # The ranking's SKUs may fall anywhere in SKU order: read past as many as could be left out.
    found = session.scalars(stmt.limit(count + len(exclude)))
    return [sku for sku in found if sku not in exclude][:count]


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text_filter(bind: Any, search: str) -> Any:
    """SKU or name contains ``search`` (lower case), ignoring case.

    SQLite's own LIKE ignores ASCII case and is three times faster than the Unicode ``lower()``
    the shop installs (``shop.storage.db``), so an ASCII search uses it; any other goes through ``lower()``.
    """
    pattern = f"%{_escape_like(search)}%"
    session_bind = bind.get_bind() if isinstance(bind, Session) else bind.db.engine
    if session_bind.dialect.name == "sqlite" and search.isascii():
        return or_(Product.sku.like(pattern, escape="\\"), Product.name.like(pattern, escape="\\"))
    return or_(
        func.lower(Product.sku).like(pattern, escape="\\"),
        func.lower(Product.name).like(pattern, escape="\\"),
    )
