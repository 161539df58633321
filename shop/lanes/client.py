"""Lanes: the one object a process holds (``Services.lanes``), with every side of the lanes in it.

Each side is its own class in its own file, usable alone with a Redis client: the door (admit, job
views; shop.lanes.door, with the sale opening of shop.lanes.sales), the consumer's lease and take
(shop.lanes.lease) and its publishing (shop.lanes.publish), and the operators' control
(shop.lanes.control). They share only the Redis client, its registered scripts and two settings
(shop.lanes.side), so one object can be all of them at once.
"""

from __future__ import annotations

from shop.lanes.control import LaneControl
from shop.lanes.door import Door
from shop.lanes.lease import Lease
from shop.lanes.publish import Publisher


class Lanes(Door, Lease, Publisher, LaneControl):
    """Per-SKU RQ queues with tickets, a reliable in-flight list, leases and fencing tokens."""
