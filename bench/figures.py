"""Percentiles, shared by the bench and its load processes (which import nothing else of the shop)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): the smallest sample with at least q% of them at or
    below it. The p99 of 100 samples is the 99th, so one stall in a hundred is what a p99 allows;
    below 100 samples the p99 is the slowest sample. None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]
