"""The bench's percentiles: nearest rank, so a p99 allows one slow sample in a hundred."""

import pytest

from bench.figures import percentile

pytestmark = pytest.mark.pure


def test_the_p99_of_a_hundred_samples_is_the_ninety_ninth():
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 99) == 99.0


def test_below_a_hundred_samples_the_p99_is_the_slowest():
    assert percentile([5.0, 1.0, 3.0], 99) == 5.0


def test_the_p50_of_an_even_count_is_the_lower_middle_sample():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0


def test_no_samples_have_no_percentile():
    assert percentile([], 99) is None
