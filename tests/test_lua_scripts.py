"""The Lua lives in .lua files, each one used, and none spells a Redis key prefix of its own.

The key layout is defined once (shop/lanes/keys.py) and handed to the scripts; a prefix spelled inside
a script would be a second definition that changes silently apart from the first.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from config import BASE_DIR
from shop.lanes import keys
from shop.lanes.scripts import LIBRARIES, LaneScripts, lua_source

SCRIPTS_DIR = BASE_DIR / "shop" / "lanes" / "scripts"
LUA_FILES = sorted(SCRIPTS_DIR.glob("*.lua"))
# Run with EVAL inside the per-batch metrics pipeline rather than registered (shop.lanes.metrics).
EVALED = {"blend_rate"}
PREFIXES = [
    keys.QUEUE_KEY_PREFIX,
    keys.JOB_KEY_PREFIX,
    keys.RESULTS_KEY_PREFIX,
    keys.LANE_KEY_PREFIX,
    keys.CATALOG_HASH,
    "shop:",
    "rq:",
]


def test_every_lua_file_is_a_script_or_a_library_in_use():
    registered = {f.name for f in fields(LaneScripts)}
    libraries = {name for needed in LIBRARIES.values() for name in needed}
    assert {path.stem for path in LUA_FILES} == registered | libraries | EVALED


@pytest.mark.parametrize("path", LUA_FILES, ids=[path.name for path in LUA_FILES])
def test_no_script_spells_a_key_prefix(path: Path):
    code = "\n".join(line.split("--", 1)[0] for line in path.read_text().splitlines())
    assert [prefix for prefix in PREFIXES if prefix in code] == []


def test_a_script_is_its_libraries_then_its_own_file():
    text = lua_source("admit")
    assert text.index("local function bump_hot") < text.index("local function note_line")
    assert text.endswith((SCRIPTS_DIR / "admit.lua").read_text())


def test_no_python_file_of_the_shop_holds_lua():
    sources = [*(BASE_DIR / "shop").rglob("*.py"), *(BASE_DIR / "workers").rglob("*.py")]
    holding = [str(p.relative_to(BASE_DIR)) for p in sources if re.search(r"redis\.call\(", p.read_text())]
    assert holding == []
