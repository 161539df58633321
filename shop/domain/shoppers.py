"""Who a shopper is across carts: the key that ``max_per_customer`` counts units by.

A new cart costs nothing, so the per-cart limit is easy to dodge; the per-customer limit counts a
shopper's units across all their carts. The key is, in order of precedence:

1. ``X-Customer-Id``, set by an authenticated upstream (a login gateway in front of the shop).
   Only trusted when ``TRUST_CUSTOMER_ID`` is on: otherwise any client could send a fresh id with
   every request and the limit would mean nothing.
2. The client's address (``request.remote_addr``, which ``TRUSTED_PROXY_COUNT`` makes the real
   client's behind proxies). A cart cookie cannot tell one shopper's carts apart from another's:
   a shopper who starts a new cart starts with a new cookie, so the address is the one trace the
   two carts share. Shoppers behind one address (an office, carrier-grade NAT) share the limit;
   shops that sell limited items to many such shoppers should put a login in front and pass
   ``X-Customer-Id``.

Keys are keyed hashes (HMAC with the app's secret), so neither customer ids nor client addresses
are stored in Redis or the database.
"""

from __future__ import annotations

import hashlib
import hmac
import re

CUSTOMER_HEADER = "X-Customer-Id"
CUSTOMER_ID_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")
KEY_LENGTH = 32


def shopper_key(secret: str, customer_id: str | None, address: str | None) -> str:
    """Return the shopper's key: from the customer id if given, else from the client address."""
    if customer_id:
        return "c-" + _digest(secret, "customer", customer_id)
    return "a-" + _digest(secret, "address", address or "unknown")


def _digest(secret: str, kind: str, value: str) -> str:
    mac = hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256)
    return mac.hexdigest()[:KEY_LENGTH]
