"""The WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

import gc

from shop import create_app

app = create_app()

# The slowest answers were the cyclic garbage collector's pauses, not the queries. A full
# collection walks every object the app loaded (~150,000): about one catalog request in 300 took
# ~110 ms instead of ~7 ms, while /healthz never did. So what the app loaded is kept out of every
# later collection (gc.freeze). A young collection's pause grows with its threshold (about
# 1-2 us per object on the catalog path): at 50,000 one request in ~500 paused 30-105 ms; at
# 5,000 the longest pause measured was 3-7 ms, at a third of the default's (700) total time.
# The older generations keep CPython's defaults (10, 10): with the app frozen they hold only what
# requests left behind, and their collections took at most 3-4 ms in the same measurement.
YOUNG_GC_THRESHOLD = 5_000
gc.collect()
gc.freeze()
gc.set_threshold(YOUNG_GC_THRESHOLD, 10, 10)
