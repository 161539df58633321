"""The deliberate faults `make mutants` puts into the core, one at a time (see devtools/mutants.py).

Each fault breaks one promise the shop makes (the README's guarantees table, issue 17's list) by a
small edit located by a pattern, never by a line number: the pattern must match exactly once in
its file, or the fault is reported STALE (the code moved on; update the pattern, do not delete the
fault). ``tests`` are the pytest arguments (node ids, files) that must fail once the fault is in;
``k`` narrows them with a ``-k`` expression.

Adding a guarantee? Add its fault here, next to the row it breaks, and run
``make mutants MUTANTS_ARGS="--only <name>"``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    """One deliberate fault: where it goes, what it does, and which tests must catch it."""

    name: str
    breaks: str  # the promise it breaks, in a few words
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]
    k: str | None = None
    regex: bool = False  # ``find`` is a regular expression (re.MULTILINE) instead of literal text


FAULTS: tuple[Fault, ...] = (
    # --- the three that survived the whole suite (issue 17) ------------------------------------
    Fault(
        name="csrf_exempt_pay_form",
        breaks="page forms carry CSRF tokens",
        file="shop/__init__.py",
        find="    csrf.exempt(admin.bp)\n",
        replace='    csrf.exempt(admin.bp)\n    csrf.exempt("shop.pages.pay")\n',
        tests=("tests/test_csrf.py",),
    ),
    Fault(
        name="waitlist_newest_first",
        breaks="returned units go to the oldest waitlist entry first",
        file="shop/inventory.py",
        find=".order_by(WaitlistEntry.id)\n",
        replace=".order_by(WaitlistEntry.id.desc())\n",
        tests=("tests/test_waitlist.py",),
    ),
    Fault(
        name="checkout_fence_removed",
        breaks="a stale consumer cannot apply (checkout lanes)",
        file="shop/orders.py",
        find="        claim_fence(session, lane, fence_token)\n",
        replace="        pass  # fence check removed\n",
        tests=("tests/test_fences.py", "tests/test_lanes.py"),
    ),
    # --- the seven the suite caught (issue 17) --------------------------------------------------
    Fault(
        name="admission_without_per_cart_limit",
        breaks="an add above max_per_cart is refused at once (422)",
        file="shop/queueing.py",
        find="  if tonumber(ARGV[4]) > facts[1] then return {-2, facts[1]} end\n",
        replace="",
        tests=("tests/test_cart_api.py",),
        k="per_cart_limit",
    ),
    Fault(
        name="admission_without_per_customer_limit",
        breaks="a shopper's units across carts stay within max_per_customer (at admission)",
        file="shop/queueing.py",
        find="  if has + demand > per_customer then return {-3, per_customer, has} end\n",
        replace="",
        tests=("tests/test_customer_limits.py",),
    ),
    Fault(
        name="payment_without_idempotency_lookup",
        breaks="nothing charged twice: a repeated Idempotency-Key returns the first payment",
        file="shop/orders.py",
        find=(
            r"existing = session\.scalar\(\n\s*select\(Payment\)\.where\(Payment\.cart_id == cart_id, "
            r"Payment\.idempotency_key == idempotency_key\)\n\s*\)"
        ),
        replace="existing = None",
        regex=True,
        tests=("tests/test_checkout_payment.py",),
        k="idempotency or repeated",
    ),
    Fault(
        name="expiry_does_not_return_units",
        breaks="held units come back when a hold expires",
        file="shop/inventory.py",
        find=(
            "    hold.status = HoldStatus.EXPIRED\n"
            "    hold.updated_at = state.now\n"
            "    state.reserved -= hold.qty\n"
        ),
        replace="    hold.status = HoldStatus.EXPIRED\n    hold.updated_at = state.now\n",
        tests=("tests/test_expiry.py",),
    ),
    Fault(
        name="ledger_replay_skips_expiries",
        breaks="the audit replays every SKU's ledger",
        file="shop/ledger.py",
        find='    if name in ("expired", "order_units_returned"):\n',
        replace='    if name in ("order_units_returned",):\n',
        tests=("tests/test_ledger.py",),
    ),
    Fault(
        name="hold_ttl_ignored",
        breaks="a hold keeps its units for HOLD_TTL_SECONDS, then they come back",
        file="shop/inventory.py",
        find="        expires_at=state.now + state.hold_ttl,\n",
        replace="        expires_at=state.now + timedelta(days=1),\n",
        tests=("tests/test_cart_api.py", "tests/test_expiry.py"),
        k="expire or expiry or time_left",
    ),
    Fault(
        name="catalog_available_ignores_reserved",
        breaks="the catalog's available counts held units as gone",
        file="shop/catalog.py",
        find='        "available": product.available,\n',
        replace='        "available": product.on_hand,\n',
        tests=("tests/test_catalog_api.py",),
        k="available",
    ),
    # --- one per row of the README's guarantees table -------------------------------------------
    Fault(
        name="hold_granted_beyond_stock",
        breaks="every unit sold at most once; available never negative",
        file="shop/inventory.py",
        find="    granted = qty\n    if state.available < qty:\n",
        replace="    granted = qty\n    if False:\n",
        tests=("tests/test_cart_api.py",),
        k="stock or sold_out or fewer",
    ),
    Fault(
        name="batch_applied_newest_first",
        breaks="first come, first served: a batch is decided in line order",
        file="shop/inventory.py",
        find="            for request in fresh:\n",
        replace="            for request in reversed(fresh):\n",
        tests=("tests/test_lanes.py", "tests/test_cart_api.py"),
        k="batch_size or order",
    ),
    Fault(
        name="ledger_lookup_skipped",
        breaks="no request applied twice: a retry returns the recorded outcome",
        file="shop/inventory.py",
        find="        done = recorded_outcomes(session, [r.request_id for r in requests])\n",
        replace="        done = {}\n",
        tests=("tests/test_lanes.py",),
        k="twice or in_flight",
    ),
    Fault(
        name="no_in_flight_list",
        breaks="a consumer killed mid-apply loses nothing (reliable in-flight list)",
        file="shop/queueing.py",
        find="    redis.call('RPUSH', KEYS[2], unpack(ids))\n",
        replace="",
        tests=("tests/test_lanes.py",),
        k="in_flight",
    ),
    Fault(
        name="fence_not_checked",
        breaks="a stale consumer cannot apply (the fence in the database)",
        file="shop/ledger.py",
        find="        .where(SkuFence.lane == lane, SkuFence.token <= token)\n",
        replace="        .where(SkuFence.lane == lane)\n",
        tests=("tests/test_lanes.py",),
        k="stale or fenc",
    ),
    Fault(
        name="expiry_returns_units_twice",
        breaks="expiry is a conditional update: a second expiry of one hold changes nothing",
        file="shop/inventory.py",
        find=(
            "    if hold.status != HoldStatus.ACTIVE:\n"
            '        return {"outcome": "noop", "hold_id": hold_id, "reason": f"hold is {hold.status}"}\n'
        ),
        replace="",
        tests=(
            "tests/test_faults.py::"
            "test_holds_expire_after_a_killed_scheduler_returns_and_two_schedulers_expire_once",
        ),
    ),
    Fault(
        name="sweeper_skips_holds",
        breaks="held units come back even when Redis lost the schedule (the sweeper)",
        file="shop/expiry.py",
        find='        if _mark(lanes.redis, f"hold:{hold_id}"):\n',
        replace="        if False:\n",
        tests=("tests/test_expiry.py",),
        k="sweeper",
    ),
    Fault(
        name="redis_outage_is_a_500",
        breaks="Redis restarts are survived: the web tier answers 503 + Retry-After",
        file="shop/__init__.py",
        find="    @app.errorhandler(RedisConnectionError)\n",
        replace="",
        tests=("tests/test_outages.py",),
    ),
    Fault(
        name="database_outage_not_retried",
        breaks="database outages are survived: a failed batch is retried with backoff",
        file="workers/consumer.py",
        find="                if not retryable and not _transient(exc):\n",
        replace="                if True:\n",
        tests=("tests/test_faults.py::test_a_locked_database_delays_requests_but_loses_and_doubles_none",),
    ),
    Fault(
        name="waitlist_served_after_the_request",
        breaks="returned units go to the waitlist before the next request in line",
        file="shop/inventory.py",
        find="                    _serve_waitlist(session, state, request.request_id)\n",
        replace="",
        tests=("tests/test_waitlist.py",),
    ),
    Fault(
        name="late_charge_not_refunded",
        breaks="nothing paid is lost: an order that expired during the charge is refunded",
        file="shop/orders.py",
        find="            Order.pay_before > now,\n",
        replace="",
        tests=("tests/test_late_charge.py",),
    ),
    Fault(
        name="another_carts_order_visible",
        breaks="nobody reads or changes what isn't theirs",
        file="shop/orders.py",
        find=(
            "    if order is None or order.cart_id != cart_id:\n"
            '        raise NotFound("No such order for this cart.", code="order_not_found")\n'
            "    return order\n"
        ),
        replace=(
            "    if order is None:\n"
            '        raise NotFound("No such order for this cart.", code="order_not_found")\n'
            "    return order\n"
        ),
        tests=("tests/test_checkout_payment.py",),
        k="another",
    ),
    Fault(
        name="audit_ignores_where_the_replay_ends",
        breaks="auditable: the ledger's replay must end at the product's figures",
        file="shop/audit.py",
        find="        elif last[sku][1] != current:\n",
        replace="        elif False:\n",
        tests=("tests/test_ledger.py",),
        k="audit",
    ),
)


def by_name(name: str) -> Fault:
    """Return the fault called ``name`` (KeyError names the known ones)."""
    for fault in FAULTS:
        if fault.name == name:
            return fault
    raise KeyError(f"no fault {name!r}; known: {', '.join(f.name for f in FAULTS)}")
