"""``flask --app wsgi shop ...``: the operator's command line."""

from __future__ import annotations

import json
import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup

from shop.domain.audit import audit
from shop.domain.big_catalog import seed_big_catalog, settle_after_bulk_load
from shop.domain.catalog import find_product
from shop.domain.demo import seed_demo_catalog
from shop.domain.errors import NotFound, ShopError
from shop.domain.requests import Outcome, sku_lane
from shop.lanes import fulfilment, pausing
from shop.lanes.admission import cache_product
from shop.lanes.expiry import sweep
from shop.storage.migrate import upgrade
from shop.web.admin import change_stock

shop_cli = AppGroup("shop", help="Operate the shop: database, demo data, audit, expiry.")


def _services():
    return current_app.extensions["shop"]


@shop_cli.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema with the migrations."""
    upgrade(_services().config.DATABASE_URL)
    click.echo("database is at the latest schema")


@shop_cli.command("seed")
@click.option(
    "--products",
    type=click.IntRange(0, 10_000_000),
    default=0,
    help="Also grow a generated catalog to this many products (GEN-000001 …), for load and search work.",
)
def seed(products: int) -> None:
    """Load the demo catalog (products that already exist are left alone)."""
    services = _services()
    with services.db.writing() as session:
        added = seed_demo_catalog(session)
    for product in added:
        cache_product(services, product)
    click.echo(f"demo catalog: {len(added)} products added")
    if products:
        started = time.monotonic()
        with services.db.writing() as session:
            generated = seed_big_catalog(session, products)
        settle_after_bulk_load(services.db.engine)
        # Admission warms a product's cache on its first request, so 100,000 need no warming here.
        click.echo(f"generated catalog: {generated} products added in {time.monotonic() - started:.1f} s")


@shop_cli.command("audit")
def audit_command() -> None:
    """Check every stock invariant; exit 1 if any is violated."""
    with _services().db.writing() as session:
        report = audit(session)
    click.echo(json.dumps(report.to_dict(), indent=2))
    sys.exit(0 if report.ok else 1)


@shop_cli.command("set-stock")
@click.argument("sku")
@click.argument("on_hand", type=click.IntRange(0, 10_000_000))
@click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for the change's turn.")
def set_stock_command(sku: str, on_hand: int, wait: float) -> None:
    """Set SKU's units on hand, through its line (never below what is reserved)."""
    outcome = change_stock(sku, on_hand, {}, wait_s=wait)
    click.echo(json.dumps(outcome))
    if outcome.get("outcome") == Outcome.CONFLICT:
        sys.exit(1)


@shop_cli.command("pause")
@click.argument("sku")
def pause_command(sku: str) -> None:
    """Keep accepting SKU's requests into line but apply none until resumed."""
    pausing.pause_lane(_services(), _lane_of(sku))
    click.echo(f"{sku} paused: requests queue up until `shop resume {sku}`")


@shop_cli.command("resume")
@click.argument("sku")
def resume_command(sku: str) -> None:
    """Apply SKU's line again, in order."""
    pausing.resume_lane(_services(), _lane_of(sku))
    click.echo(f"{sku} resumed")


def _lane_of(sku: str) -> str:
    with _services().db.reading() as session:
        try:
            find_product(session, sku)
        except NotFound:
            raise click.ClickException(f"no product with SKU {sku!r}") from None
    return sku_lane(sku)


@shop_cli.command("sweep")
def sweep_command() -> None:
    """Put the expiry of every overdue hold and order in line now."""
    services = _services()
    counts = sweep(services.db, services.lanes, services.config.CHECKOUT_LANES)
    click.echo(json.dumps(counts))


@shop_cli.command("receive")
@click.argument("sku")
@click.argument("location")
@click.argument("qty", type=click.IntRange(1, 10_000_000))
@click.option("--uom", default=None, help="The unit QTY counts (default: the product's base unit).")
@click.option(
    "--ref", "doc_ref", default=None, help="The receipt's document reference (e.g. a delivery note)."
)
@click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for the receipt's turn.")
def receive_command(
    sku: str, location: str, qty: int, uom: str | None, doc_ref: str | None, wait: float
) -> None:
    """Book a goods receipt: QTY (of --uom) of SKU arrive at LOCATION, through the SKU's line."""
    try:
        outcome = fulfilment.receive_stock(_services(), sku, location, qty, uom, doc_ref, wait_s=wait)
    except ShopError as error:
        raise click.ClickException(error.message) from None
    click.echo(json.dumps(outcome))
    if outcome.get("outcome") not in (Outcome.RECEIVED, Outcome.QUEUED):
        sys.exit(1)


@shop_cli.command("ship")
@click.argument("order_no")
@click.option("--wait", default=10.0, show_default=True, help="Seconds to wait for each SKU's turn.")
def ship_command(order_no: str, wait: float) -> None:
    """Ship a paid order (a goods issue): its units leave allocated and on hand."""
    try:
        result = fulfilment.ship_order(_services(), order_no, wait_s=wait)
    except ShopError as error:
        raise click.ClickException(error.message) from None
    click.echo(json.dumps(result))
    if any(s.get("outcome") not in (Outcome.SHIPPED, Outcome.QUEUED) for s in result["shipments"]):
        sys.exit(1)


@shop_cli.command("reconcile-payments")
@click.option("--older-than", type=int, default=None, help="age in seconds (PAYMENT_RECONCILE_AFTER_SECONDS)")
def reconcile_payments_command(older_than: int | None) -> None:
    """Settle payments left processing by a dead web process, and refunds still owed, now."""
    from shop.lanes.reconciler import reconcile

    counts = reconcile(_services(), older_than)
    click.echo(json.dumps(counts))
