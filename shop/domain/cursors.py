"""Catalog cursors: an opaque token that continues a catalog query right after a page's last product.

The token is URL-safe base64 of JSON: the query it belongs to (sort, direction, category, search,
limit), the page number it leads to, and the last product's (sort key, sku). It is not a secret
and needs no signature: a hand-made cursor can only start a listing at another key, which any
client can do with a filter; its contents are validated like any other parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import datetime
from typing import Any

from shop.domain.errors import Malformed

# The query parameters a cursor carries; given beside it, they must agree with it.
QUERY_FIELDS = ("sortBy", "sortDir", "category", "search", "limit")
MAX_CURSOR_LENGTH = 1_000


def encode(query: Any, last: Any) -> str:
    """The cursor of the page after the one that ended with ``last`` (a (sku, sort_key) row)."""
    key = last.sort_key
    fields = [query.sort_by, query.sort_dir, query.category or "", query.search or "", str(query.limit)]
    payload = {
        "q": fields,
        "p": query.page + 1,
        "k": [key.isoformat() if isinstance(key, datetime) else key, last.sku],
    }
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> tuple[dict[str, str], tuple[Any, str]]:
    """Return the query-string fields a cursor stands for and the key its page starts after."""
    try:
        if len(token) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        fields, page, (value, sku) = payload["q"], payload["p"], payload["k"]
        if not (isinstance(fields, list) and len(fields) == len(QUERY_FIELDS)):
            raise ValueError("fields")
        if not (all(isinstance(f, str) for f in fields) and isinstance(page, int) and isinstance(sku, str)):
            raise ValueError("types")
        args = dict(zip(QUERY_FIELDS, fields, strict=True)) | {"page": str(page)}
        return args, (_typed_key(args["sortBy"], value), sku)
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError) as error:
        raise Malformed("cursor is not one this catalog gave out.", code="invalid_cursor") from error


def check_agrees(args: Any, fields: dict[str, str]) -> None:
    """Refuse a cursor sent with query parameters that describe another listing."""
    for name in (*QUERY_FIELDS, "page"):
        given = args.get(name)
        if given is not None and given.strip().lower() != fields[name].strip().lower():
            raise Malformed(
                f"{name} differs from the query the cursor continues; send the cursor alone.",
                code="cursor_mismatch",
                parameter=name,
            )


def _typed_key(sort_by: str, value: Any) -> Any:
    """The sort key as the query compares it: text, a moment, a relevance or a whole number."""
    if sort_by == "name":
        if isinstance(value, str):
            return value
    elif sort_by == "newest":
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        if moment is not None and moment.tzinfo is not None:
            return moment
    elif sort_by == "relevance":
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62:
        return value
    raise ValueError(f"a {sort_by} cursor cannot start after {value!r}")
