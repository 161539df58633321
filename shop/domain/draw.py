"""The pre-queue draw: a seeded shuffle, written identically in Lua (for Redis) and Python (for the audit).

The Lua is the lanes' (shop/lanes/scripts/draw.lua, run by the script that opens a sale); this is the
Python the audit recomputes the order with, and tests/test_sale_start.py checks that the two agree.

Requests that arrive before a product's ``sale_starts_at`` wait in a pre-queue; at the start, one
Redis script orders them by this draw and gives them tickets, so being first to refresh before the
start gives no advantage. The input is the pre-queued job ids sorted (arrival order plays no part),
the seed is drawn when the sale opens and kept (Redis, the ledger, the log), and the audit recomputes
the order from the seed and the ids.

The generator is Park and Miller's "minimal standard" (Lehmer, multiplier 48271, modulus 2^31 - 1):
every intermediate value stays below 2^53, so Lua's doubles compute it exactly (with ``math.fmod``,
which is exact, rather than ``%``, which divides), and it is the same in both languages.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

MODULUS = 2_147_483_647
MULTIPLIER = 48_271


def new_seed() -> int:
    """Draw a seed for a sale's opening (1 .. 2^31 - 2, the generator's valid states)."""
    return secrets.randbelow(MODULUS - 1) + 1


def shuffled(ids: Iterable[str], seed: int) -> list[str]:
    """Return the pre-queue's order for these job ids and seed, as the opening script made it."""
    order = sorted(ids)
    state = seed
    for i in range(len(order) - 1, 0, -1):
        state = state * MULTIPLIER % MODULUS
        j = state % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order
