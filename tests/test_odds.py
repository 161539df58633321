"""The odds rules as plain functions: the verdict a shopper is given and the range of the wait.

No Redis and no database: tests/test_odds_in_line.py shows the same figures as a line moves.
"""

from __future__ import annotations

import pytest

from shop.domain.odds import Verdict, estimate_wait, judge

pytestmark = pytest.mark.pure


@pytest.mark.parametrize(
    ("available", "held", "ahead", "demand", "verdict"),
    [
        (5, 0, 4, 1, Verdict.LIKELY),
        (5, 0, 5, 1, Verdict.UNLIKELY),
        (1, 3, 2, 2, Verdict.UNCERTAIN),
        (1, 3, 3, 2, Verdict.UNLIKELY),
        (0, 0, 0, 1, Verdict.UNLIKELY),
    ],
)
def test_the_verdict_weighs_the_quantity_ahead_against_available_and_held(
    available, held, ahead, demand, verdict
):
    assert judge(available, held, ahead, demand) == verdict


def test_the_wait_estimate_widens_with_the_place_in_line():
    assert estimate_wait(None, 10.0) is None
    assert estimate_wait(3, None) is None
    near, far = estimate_wait(0, 10.0), estimate_wait(199, 10.0)
    assert (near.low, near.high) == (0, 1)
    assert (far.low, far.high) == (15, 30)
