"""The location rule and the JSON a hold keeps its locations in (shop.domain.locations) as plain functions."""

from __future__ import annotations

import json

import pytest

from shop.domain.locations import choose, dump_locations, parse_locations

pytestmark = pytest.mark.pure


def test_a_hold_goes_to_the_first_location_by_priority_that_has_all_its_units():
    assert choose([("SBY", 1, 9), ("JKT", 0, 5)], 5) == {"JKT": 5}


def test_among_equal_priorities_the_location_with_most_free_units_goes_first():
    assert choose([("A", 0, 4), ("B", 0, 6)], 3) == {"B": 3}


def test_a_hold_larger_than_any_location_spans_them_in_rule_order():
    assert choose([("SBY", 1, 9), ("JKT", 0, 5)], 12) == {"JKT": 5, "SBY": 7}


def test_a_hold_larger_than_all_locations_together_gets_nothing():
    assert choose([("SBY", 1, 2), ("JKT", 0, 5)], 8) is None


@pytest.mark.parametrize(
    "where",
    [{"JKT": 3}, {"MAIN": 12}, {"A-1": 2}, {"JKT": 0, "SBY": 1}, {"JKT": 2, "SBY": 1}, {"Gudang é": 1}],
)
def test_locations_are_written_as_compact_json_and_read_back(where):
    written = dump_locations(where)
    assert written == json.dumps({c: u for c, u in where.items() if u}, separators=(",", ":"))
    assert parse_locations(written) == {c: u for c, u in where.items() if u}
