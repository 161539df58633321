"""Order numbers a shopper can quote: KL-YYYYMMDD-NNNNNN, NNNNNN from one counter row.

The counter is advanced with one UPDATE ... RETURNING in the checkout transaction, so two checkout
lanes can never draw the same number and a rolled-back checkout gives its number back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from shop.domain.ledger import increment, insert_ignoring_conflicts
from shop.storage.models import Counter

ORDER_NO_PREFIX = "KL"
ORDER_NO_COUNTER = "order_no"
ORDER_NO_PATTERN = r"^KL-[0-9]{8}-[0-9]{6,}$"


def next_order_no(session: Session, now: datetime) -> str:
    """Draw the next order number (the date part is the order's UTC date)."""
    for _attempt in range(2):
        value = increment(session, Counter.value, Counter.name == ORDER_NO_COUNTER)
        if value is not None:
            return f"{ORDER_NO_PREFIX}-{now:%Y%m%d}-{int(value):06d}"
        insert_ignoring_conflicts(session, Counter, [{"name": ORDER_NO_COUNTER, "value": 0}])
    raise RuntimeError("the order number counter could not be created")
