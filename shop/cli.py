"""``flask --app wsgi shop ...``: the operator's command line."""

from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from shop.audit import audit
from shop.demo import seed_demo_catalog
from shop.expiry import sweep
from shop.migrate import upgrade

shop_cli = AppGroup("shop", help="Operate the shop: database, demo data, audit, expiry.")


def _services():
    return current_app.extensions["shop"]


@shop_cli.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema with the migrations."""
    upgrade(_services().config.DATABASE_URL)
    click.echo("database is at the latest schema")


@shop_cli.command("seed")
def seed() -> None:
    """Load the demo catalog (products that already exist are left alone)."""
    services = _services()
    with services.db.writing() as session:
        added = seed_demo_catalog(session)
    for product in added:
        services.lanes.cache_product(product.sku, product.max_per_cart)
    click.echo(f"demo catalog: {len(added)} products added")


@shop_cli.command("audit")
def audit_command() -> None:
    """Check every stock invariant; exit 1 if any is violated."""
    with _services().db.writing() as session:
        report = audit(session)
    click.echo(json.dumps(report.to_dict(), indent=2))
    sys.exit(0 if report.ok else 1)


@shop_cli.command("sweep")
def sweep_command() -> None:
    """Put the expiry of every overdue hold and order in line now."""
    services = _services()
    counts = sweep(services.db, services.lanes, services.config.CHECKOUT_LANES)
    click.echo(json.dumps(counts))
