"""Where a hold's units are: the location-choice rule, and the JSON a hold keeps them in.

The rule (docs/issue11-design.md): locations in order of ``priority`` (lower first), then most free
units, then code. A hold takes all its units from the first location that has them all; if none
does, it spans locations in that order. Units given back leave the last-taken location first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

DEFAULT_LOCATION = "MAIN"


def parse_locations(raw: str | None) -> dict[str, int]:
    """Read a hold's locations JSON ({"JKT": 3}); an empty or missing value holds nowhere."""
    if not raw:
        return {}
    return {str(code): int(units) for code, units in json.loads(raw).items() if int(units)}


def dump_locations(where: Mapping[str, int]) -> str:
    """Write a hold's locations as compact JSON, in the order the units were taken."""
    if len(where) == 1:
        # Most holds sit at one location; this is the hot path of every hold (a tenth of json.dumps).
        ((code, units),) = where.items()
        if units and code.isalnum() and code.isascii():
            return f'{{"{code}":{int(units)}}}'
    return json.dumps({code: units for code, units in where.items() if units}, separators=(",", ":"))


def choose(free: Iterable[tuple[str, int, int]], qty: int) -> dict[str, int] | None:
    """Pick where ``qty`` units come from, given (code, priority, free units); None if too few.

    Locations are tried by priority, then most free, then code: the first with all the units gets
    the hold; otherwise the hold spans them in that order.
    """
    ranked = sorted((loc for loc in free if loc[2] > 0), key=lambda loc: (loc[1], -loc[2], loc[0]))
    for code, _priority, units in ranked:
        if units >= qty:
            return {code: qty}
    if sum(loc[2] for loc in ranked) < qty:
        return None
    taken: dict[str, int] = {}
    left = qty
    for code, _priority, units in ranked:
        take = min(units, left)
        taken[code] = take
        left -= take
        if not left:
            break
    return taken


def give_back(where: Mapping[str, int], qty: int) -> tuple[dict[str, int], dict[str, int]]:
    """Take ``qty`` units off a hold's locations, last-taken first; return (kept, returned)."""
    kept = dict(where)
    returned: dict[str, int] = {}
    for code in reversed(list(kept)):
        if qty <= 0:
            break
        take = min(kept[code], qty)
        kept[code] -= take
        returned[code] = take
        qty -= take
    return {c: u for c, u in kept.items() if u}, returned


def merge(where: Mapping[str, int], more: Mapping[str, int]) -> dict[str, int]:
    """Add units taken from locations to a hold's locations (keeping the order they were taken)."""
    merged = dict(where)
    for code, units in more.items():
        merged[code] = merged.get(code, 0) + units
    return merged
