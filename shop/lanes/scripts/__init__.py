"""The lanes' Lua scripts: each a ``.lua`` file beside this module, registered once per Redis client.

Redis runs each script as one atomic step, which is what the lanes need where RQ has no command
(a ticket and a push together, a batch moved to the in-flight list, a lease given up only if the lane
is empty). ``register_script`` sends a script's SHA1 (EVALSHA) and loads its text only when Redis does
not know it yet (after a restart), so a call costs one round trip.

A few files are libraries of ``local function``s (``hot.lua``, ``lines.lua``, ``draw.lua``): a script
that uses one gets its text put in front of its own (``LIBRARIES``). The files are read relative to
this package, so they travel with the code wherever it is installed or copied.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from importlib.resources import files

from redis import Redis
from redis.commands.core import Script

# Activity ranking (hot.lua): activity halves every minute, so the board's "hottest" follows the last
# few minutes of a sale; the forward decay's fixed landmark is 2023-11-14 UTC (any past moment will do).
HOT_HALF_LIFE_S = 60
HOT_EPOCH_S = 1_700_000_000

# The libraries each script needs, put in front of its own text in this order.
LIBRARIES: dict[str, tuple[str, ...]] = {
    "admit": ("hot", "lines"),
    "open_sale": ("draw", "lines"),
    "take": ("lines",),
}


@functools.cache
def lua_source(name: str) -> str:
    """Return the text Redis runs for the script ``name``: its libraries, then its own file."""
    folder = files(__package__)
    return "\n".join(folder.joinpath(f"{part}.lua").read_text() for part in (*LIBRARIES.get(name, ()), name))


@dataclass(frozen=True)
class LaneScripts:
    """The scripts the lanes call, registered on one Redis client; each field is named for its file."""

    admit: Script
    open_sale: Script
    acquire: Script
    take: Script
    publish: Script
    release_if_idle: Script
    yield_lane: Script
    release_paused: Script
    renew: Script
    rescue: Script
    view: Script
    set_pause: Script

    @classmethod
    def register(cls, redis: Redis) -> LaneScripts:
        """Register every script on ``redis`` (no round trip: Redis loads each at its first call)."""
        return cls(**{f.name: redis.register_script(lua_source(f.name)) for f in fields(cls)})
