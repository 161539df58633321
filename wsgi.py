"""The WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

import gc

from shop import create_app

app = create_app()

# The slowest answers were the cyclic garbage collector's pauses, not the queries: about one
# catalog request in 300 took ~110 ms instead of ~7 ms, with any worker class, while /healthz
# never did. What the app loaded is kept out of every later collection (gc.freeze), and young
# objects are collected less often. The slowest of 600 catalog requests fell to 28-39 ms.
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 20, 100)
