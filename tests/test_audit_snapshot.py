"""The audit reads the whole database in one snapshot: a batch that commits while it runs is no violation.

The bench's growth scenario audited while hold expiries were still being applied and, on PostgreSQL,
reported a location's reserved units as differing from its holds'. Here a hold commits right after the
audit's first, second, ... statement in turn, so the test does not depend on timing.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from shop.domain.audit import audit
from shop.domain.inventory import apply_stock_requests
from shop.domain.requests import QueuedRequest

SKU = "SNAPSHOT-1"


def _commit_a_hold(services, ticket: int) -> None:
    params = {"cart_id": f"{ticket:040d}", "sku": SKU, "qty": 1}
    request = QueuedRequest(f"hold-while-auditing-{ticket}", "hold", params, ticket)
    with services.db.writing() as session:
        outcomes = apply_stock_requests(session, SKU, 1, [request], timedelta(minutes=10))
    assert [o["outcome"] for o in outcomes] == ["held"]


def _audit_committing_after(services, statement: int | None, ticket: int):
    """Audit, committing one hold right after the audit's ``statement``-th statement (None: never)."""
    seen = {"statements": 0, "committed": False}

    def commit_midway(conn, cursor, sql, parameters, context, executemany):
        if seen["committed"]:
            return
        seen["statements"] += 1
        if seen["statements"] == statement:
            seen["committed"] = True
            _commit_a_hold(services, ticket)

    engine = services.db.engine
    with services.db.reading() as session:
        event.listen(engine, "after_cursor_execute", commit_midway)
        try:
            report = audit(session)
        finally:
            event.remove(engine, "after_cursor_execute", commit_midway)
    return report, seen


def test_a_hold_committed_between_any_two_of_the_audits_statements_is_not_a_violation(services, make_product):
    make_product(SKU, on_hand=50, max_per_cart=50)
    _commit_a_hold(services, 1)
    _report, counted = _audit_committing_after(services, None, 0)
    assert counted["statements"] > 2
    for statement in range(1, counted["statements"]):
        report, seen = _audit_committing_after(services, statement, statement + 1)
        assert seen["committed"], f"no hold committed after statement {statement}"
        assert report.ok, f"a hold committed after statement {statement}: {report.violations}"


def test_the_audit_counts_a_hold_once_it_has_committed(services, make_product):
    make_product(SKU, on_hand=5, max_per_cart=5)
    _commit_a_hold(services, 1)
    with services.db.reading() as session:
        report = audit(session)
    assert report.ok, report.violations
    assert report.holds == 1
