"""A batch finds its carts' lines of the SKU by cart: never by reading all the SKU's holds.

During a flash sale a SKU has tens of thousands of active holds; ``cart_lines`` runs for every
batch with known carts. The plans are the databases' own, as in test_catalog_plans.py: ``EXPLAIN
QUERY PLAN`` on SQLite; ``EXPLAIN`` on PostgreSQL without statistics (as during a sale, before
autovacuum catches up), sequential scans priced out and the statements' own parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from shop.domain import stock_state
from shop.storage.models import Cart, utcnow

CARTS = ["cart-a", "cart-b", "cart-c"]


@contextmanager
def holds_statements(engine) -> Iterator[list[tuple[str, object]]]:
    """Capture the statements of the block that read holds (their text and parameters)."""
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM holds" in statement or "JOIN LATERAL" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield captured
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def cart_lines_plans(services) -> list[str]:
    """The plan of each statement ``cart_lines`` runs for known carts, as text."""
    engine = services.db.engine
    with services.db.writing() as session, session.begin():
        session.add_all([Cart(id=cart_id, created_at=utcnow()) for cart_id in CARTS])
        session.flush()
        with holds_statements(engine) as statements:
            stock_state.cart_lines(session, "FLASH-1", CARTS)
        connection = session.connection()
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        plans = []
        for statement, parameters in statements:
            rows = connection.exec_driver_sql(prefix + statement, parameters).fetchall()
            plans.append("\n".join(str(row[-1]) for row in rows))
        session.rollback()
    return plans


def test_a_batch_finds_its_carts_lines_by_cart_not_by_the_skus_holds(services, make_product):
    make_product("FLASH-1")
    plans = cart_lines_plans(services)
    assert len(plans) == 2, plans  # the live holds (locked), and the carts still showing expired lines
    for plan in plans:
        assert "ix_holds_cart_sku_status" in plan, plan
        assert "ix_holds_sku_status_expires" not in plan, plan
        if services.db.engine.dialect.name == "sqlite":
            assert "cart_id=?" in plan.replace(" ", "") and "sku=?" in plan.replace(" ", ""), plan
        else:
            assert "Seq Scan on holds" not in plan, plan
            assert "cart_id" in plan.split("Index Cond:")[1].split("\n")[0], plan
