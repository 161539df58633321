"""The shop's rules as plain functions over a SQLAlchemy session: stock, holds and the waitlist, carts,
orders, payments, the ledger and its audit, the catalog and its search.

Nothing here knows Flask, RQ or Redis; the lanes call it to apply a batch, the web to read.
"""
