"""`shop seed --products N`: a generated catalog at a real shop's size, consistent with the shop's rows."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from shop.domain.audit import audit
from shop.domain.big_catalog import SKU_PREFIX, seed_big_catalog
from shop.storage.models import ItemMovement, Product, ProductUom, StockLocation

GENERATED = Product.sku.like(f"{SKU_PREFIX}%")


def count(services, *where) -> int:
    with services.db.reading() as session:
        return session.scalar(select(func.count()).where(*where)) or 0


def test_seed_with_products_adds_that_many_generated_products(app, services):
    result = app.test_cli_runner().invoke(args=["shop", "seed", "--products", "1200"])

    assert result.exit_code == 0, result.output
    assert "generated catalog: 1200 products added" in result.output
    assert count(services, GENERATED) == 1200


def test_seeding_leaves_postgresql_vacuumed_and_analyzed_so_plans_are_right_at_once(app, services):
    # Unvacuumed, a category's count read the table, not its index (30-90 ms at 100,000 products).
    if services.db.engine.dialect.name != "postgresql":
        pytest.skip("VACUUM and the planner's statistics are PostgreSQL's")
    result = app.test_cli_runner().invoke(args=["shop", "seed", "--products", "300"])

    assert result.exit_code == 0, result.output
    with services.db.reading() as session:
        vacuumed, analyzed = session.execute(
            text("SELECT last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = 'products'")
        ).one()
    assert vacuumed is not None and analyzed is not None


def test_a_generated_catalog_passes_the_audit(services):
    with services.db.writing() as session:
        seed_big_catalog(session, 600)
    with services.db.writing() as session:
        report = audit(session)
    assert report.ok, report.violations[:5]


def test_a_generated_catalog_has_every_category_flash_discounts_packs_and_several_warehouses(services):
    with services.db.writing() as session:
        seed_big_catalog(session, 600)
    with services.db.reading() as session:
        categories = set(session.scalars(select(Product.category).where(GENERATED).distinct()))
        discounted = session.scalar(
            select(func.count()).where(GENERATED, Product.price < Product.normal_price)
        )
        locations = set(session.scalars(select(StockLocation.location_code).distinct()))
    assert categories == {"electronic", "fashion", "beauty", "groceries", "home", "sports"}
    assert 50 <= discounted <= 150  # about one in six
    assert count(services, ProductUom.sku.like(f"{SKU_PREFIX}%")) > 30  # about one in eight
    assert locations == {"JKT", "SBY", "MDN"}
    assert count(services, ItemMovement.sku.like(f"{SKU_PREFIX}%")) >= count(
        services, GENERATED, Product.on_hand > 0
    )


def test_seeding_again_grows_the_catalog_to_the_count_and_never_duplicates(services):
    with services.db.writing() as session:
        assert seed_big_catalog(session, 300) == 300
    with services.db.writing() as session:
        assert seed_big_catalog(session, 300) == 0
        assert seed_big_catalog(session, 450) == 150
    assert count(services, GENERATED) == 450


def test_generated_names_mix_indonesian_and_english_words_the_catalog_search_finds(client, services):
    with services.db.writing() as session:
        seed_big_catalog(session, 600)
    for word in ("kaos", "wireless", "beras"):
        found = client.get(f"/catalogs?search={word}&limit=5").get_json()
        assert found["total"] > 0 and all(word in item["name"].lower() for item in found["items"])


def test_generated_products_can_be_held_like_any_other(shopper, drain, services):
    with services.db.writing() as session:
        seed_big_catalog(session, 60)
    with services.db.reading() as session:
        sku = session.scalar(select(Product.sku).where(GENERATED, Product.on_hand >= 5).order_by(Product.sku))
    accepted = shopper.add(sku, 1)
    assert accepted.status_code == 202, accepted.get_json()
    drain()
    assert shopper.job(accepted.get_json()["job_id"]).get_json()["result"]["outcome"] == "held"
