"""A generated catalog at a real shop's size (``shop seed --products N``), for load and search work.

Names mix Indonesian and English words the way Indonesian marketplaces list goods ("Kaos Polos
Cotton Combed Hitam", "Wireless Mouse Senyap"); prices end in 000 or 900; about one product in six
has a flash discount, one in eight a pack or box unit; stock sits in up to three warehouses.
Everything is written with set-based INSERTs in chunks, with the same rows the shop writes for a
product it creates (stock per location, an opening movement per location, the ledger's first
entry, the lane's fence), so ``shop audit`` is clean afterwards. The same seed gives the same catalog.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from shop.domain.ledger import creation_entry, ledger_row
from shop.domain.requests import sku_lane
from shop.domain.stock import location_row, movement_row
from shop.storage.models import (
    BASE_UOM,
    AppliedRequest,
    DocType,
    ItemMovement,
    Product,
    ProductUom,
    SkuFence,
    StockLocation,
    utcnow,
)

SKU_PREFIX = "GEN-"
CHUNK = 5_000
LOCATIONS = ("JKT", "SBY", "MDN")

# category -> (nouns, qualities, price range in thousands of Rupiah), from catalog_words.toml.
WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[int, int]]] = {
    category: (tuple(words["nouns"]), tuple(words["qualities"]), tuple(words["price_thousands"]))
    for category, words in tomllib.loads((Path(__file__).parent / "catalog_words.toml").read_text()).items()
}
PACKS = (("pack", 3), ("pack", 6), ("box", 12), ("box", 24))


def _products(rng: random.Random, first: int, count: int, now: datetime) -> Iterator[dict]:
    categories = list(WORDS)
    for number in range(first, first + count):
        category = categories[number % len(categories)]
        nouns, qualities, (low, high) = WORDS[category]
        first_quality, second_quality = rng.sample(qualities, 2)
        name = f"{rng.choice(nouns)} {first_quality} {second_quality}"
        normal = rng.randint(low, high) * 1_000 + rng.choice((0, 0, 900 - 1_000))
        flash = rng.random() < 1 / 6
        price = normal * rng.choice((50, 60, 70, 75, 80, 85, 90)) // 100 // 100 * 100 if flash else normal
        yield {
            "sku": f"{SKU_PREFIX}{number:06d}",
            "name": name,
            "description": f"{name}: {category}, nomor {number}.",
            "category": category,
            "base_uom": BASE_UOM,
            "normal_price": normal,
            "price": price,
            "image": "",
            "on_hand": rng.choice((0, 5, 20, 50, 100, 250, 1_000)),
            "reserved": 0,
            "allocated": 0,
            "sales": int(rng.paretovariate(1.2) * 10) if rng.random() < 0.7 else 0,
            "max_per_cart": rng.choice((1, 2, 3, 5, 10)),
            "max_per_customer": None,
            "sale_starts_at": None,
            "sale_ends_at": None,
            # Spread over the last year, so "newest" sorts mean something.
            "created_at": now - timedelta(minutes=rng.randint(0, 525_600)),
            "updated_at": now,
        }


def _split(rng: random.Random, on_hand: int) -> list[tuple[str, int]]:
    """Split stock over one to three warehouses, biggest share first (the highest priority)."""
    places = LOCATIONS[: rng.choice((1, 1, 2, 3))]
    if on_hand < 10 or len(places) == 1:
        return [(places[0], on_hand)]
    shares = sorted((rng.randint(1, 10) for _ in places), reverse=True)
    parts = [on_hand * share // sum(shares) for share in shares]
    parts[0] += on_hand - sum(parts)
    return list(zip(places, parts, strict=True))


def _rows(rng: random.Random, products: list[dict], now: datetime) -> dict[type, list[dict]]:
    """Every row the shop keeps for these new products, by table."""
    rows: dict[type, list[dict]] = {StockLocation: [], ItemMovement: [], ProductUom: [], AppliedRequest: []}
    for product in products:
        sku, on_hand = product["sku"], product["on_hand"]
        for priority, (code, units) in enumerate(_split(rng, on_hand)):
            rows[StockLocation].append(location_row(sku, code, priority, units, now))
            if units:
                rows[ItemMovement].append(
                    movement_row(sku, code, units, DocType.GOODS_RECEIPT, "INITIAL", now)
                )
        if rng.random() < 1 / 8:
            uom, conversion = rng.choice(PACKS)
            rows[ProductUom].append(
                {"sku": sku, "uom": uom, "conversion": conversion, "created_at": now, "updated_at": now}
            )
        rows[AppliedRequest].append(ledger_row(sku_lane(sku), sku, creation_entry(sku, on_hand), now))
    return rows


def generated_count(session: Session) -> int:
    """How many generated products the catalog has already."""
    return session.scalar(select(func.count()).where(Product.sku.like(f"{SKU_PREFIX}%"))) or 0


def seed_big_catalog(session: Session, count: int, seed: int = 1111) -> int:
    """Grow the generated part of the catalog to ``count`` products; return how many were added.

    Each chunk is its own transaction, so a large catalog does not hold one huge write open.
    """
    with session.begin():
        have = generated_count(session)
    rng = random.Random(seed * 1_000_003 + have)
    now = utcnow()
    added = 0
    while have + added < count:
        size = min(CHUNK, count - have - added)
        with session.begin():
            products = list(_products(rng, have + added + 1, size, now))
            session.execute(insert(Product.__table__), products)
            for model, rows in _rows(rng, products, now).items():
                if rows:
                    session.execute(insert(model.__table__), rows)
            session.execute(
                insert(SkuFence.__table__), [{"lane": sku_lane(p["sku"]), "token": 0} for p in products]
            )
        added += size
    return added


def settle_after_bulk_load(engine: Engine) -> None:
    """On PostgreSQL, VACUUM (ANALYZE) the shop's database, as autovacuum would soon after.

    Until then the planner has no statistics for the new rows, and their pages are not marked
    all-visible, so an index-only count of a category reads the table instead: 30 to 90 ms at
    100,000 products, against 3 ms after a vacuum. SQLite gets nothing: its planner does without.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
