"""The pre-queue draw's Python side (shop.domain.draw), as the audit recomputes it: no Redis, no database.

That Redis's script draws the same order is tests/test_sale_start.py's
``test_the_draw_is_the_same_in_redis_and_in_python``.
"""

from __future__ import annotations

import pytest

from shop.domain.draw import MODULUS, new_seed, shuffled

pytestmark = pytest.mark.pure

IDS = [f"job-{n:02d}" for n in range(20)]


def test_the_draw_is_an_order_of_exactly_the_requests_in_line():
    assert sorted(shuffled(IDS, 48271)) == sorted(IDS)


def test_the_same_seed_draws_the_same_order_whatever_the_arrival_order():
    assert shuffled(IDS, 12345) == shuffled(list(reversed(IDS)), 12345)


def test_another_seed_draws_another_order():
    assert shuffled(IDS, 1) != shuffled(IDS, 2)


def test_one_request_or_none_is_its_own_draw():
    assert shuffled(["job-1"], 7) == ["job-1"]
    assert shuffled([], 7) == []


def test_a_new_seed_is_a_valid_state_of_the_generator():
    assert all(1 <= new_seed() <= MODULUS - 1 for _ in range(100))
