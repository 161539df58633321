"""The deliberate faults `make mutants` puts into the core, one at a time (see devtools/mutants.py).

Each fault breaks one promise the shop makes (the README's guarantees table, issue 17's list) by a
small edit located by a pattern, never by a line number: the pattern must match exactly once in
its file, or the fault is reported STALE (the code moved on; update the pattern, do not delete the
fault). ``tests`` are the pytest arguments (node ids, files) that must fail once the fault is in;
``k`` narrows them with a ``-k`` expression.

A mechanism defended twice (two layers that each prevent the bug alone) needs both broken to
be observable: ``also`` lists the second edit.

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
    # Further literal edits (file, find, replace) for a mechanism guarded in two places at once;
    # each must match exactly once too.
    also: tuple[tuple[str, str, str], ...] = ()


FAULTS: tuple[Fault, ...] = (
    # --- the three that survived the whole suite (issue 17) ------------------------------------
    Fault(
        name="csrf_exempt_pay_form",
        breaks="page forms carry CSRF tokens",
        file="shop/__init__.py",
        find="    csrf.exempt(admin.bp)\n",
        replace='    csrf.exempt(admin.bp)\n    csrf.exempt("shop.web.pages.orders.pay")\n',
        tests=("tests/test_csrf.py",),
    ),
    Fault(
        name="waitlist_newest_first",
        breaks="returned units go to the oldest waitlist entry first",
        file="shop/domain/waitlist.py",
        find=".order_by(WaitlistEntry.id)\n",
        replace=".order_by(WaitlistEntry.id.desc())\n",
        tests=("tests/test_waitlist.py",),
    ),
    Fault(
        name="checkout_fence_removed",
        breaks="a stale consumer cannot apply (checkout lanes)",
        file="shop/domain/batches.py",
        find="        claim_fence(session, lane, fence_token)\n",
        replace="        pass  # fence check removed\n",
        tests=("tests/test_fences.py", "tests/test_lanes.py"),
    ),
    # --- the seven the suite caught (issue 17) --------------------------------------------------
    Fault(
        name="admission_without_per_cart_limit",
        breaks="an add above max_per_cart is refused at once (422)",
        file="shop/lanes/scripts/admit.lua",
        find="  if qty > facts[1] then return {-2, facts[1]} end\n",
        replace="",
        tests=("tests/test_cart_api.py",),
        k="per_cart_limit",
    ),
    Fault(
        name="admission_without_per_customer_limit",
        breaks="a shopper's units across carts stay within max_per_customer (at admission)",
        file="shop/lanes/scripts/admit.lua",
        find="  if has + demand > per_customer then return {-3, per_customer, has} end\n",
        replace="",
        tests=("tests/test_customer_limits.py",),
    ),
    Fault(
        name="payment_without_idempotency_lookup",
        breaks="nothing charged twice: a repeated Idempotency-Key returns the first payment",
        file="shop/domain/payments.py",
        find=(
            r"existing = session\.scalar\(\n\s*select\(Payment\)\n"
            r"\s*\.where\(Payment\.cart_id == cart_id, Payment\.idempotency_key == idempotency_key\)\n"
            r"\s*\.execution_options\(populate_existing=True\)\n\s*\)"
        ),
        replace="existing = None",
        regex=True,
        tests=("tests/test_checkout_payment.py",),
        k="idempotency or repeated",
    ),
    Fault(
        name="expiry_does_not_return_units",
        breaks="held units come back when a hold expires",
        file="shop/domain/stock_state.py",
        # Every overdue hold is expired at the start of its SKU's batch (issue 10 item 4), before
        # an expiry job is decided: that is where its units come back now.
        find=(
            "        for code, units in parse_locations(where).items():\n"
            "            state.location(code)[2] -= units\n"
            "        state.reserved -= qty\n"
        ),
        replace="",
        tests=("tests/test_expiry.py",),
    ),
    Fault(
        name="ledger_replay_skips_expiries",
        breaks="the audit replays every SKU's ledger",
        file="shop/domain/ledger.py",
        find="    if name in (Outcome.EXPIRED, Outcome.ORDER_UNITS_RETURNED):\n",
        replace="    if name in (Outcome.ORDER_UNITS_RETURNED,):\n",
        tests=("tests/test_ledger.py",),
    ),
    Fault(
        name="hold_ttl_ignored",
        breaks="a hold keeps its units for HOLD_TTL_SECONDS, then they come back",
        file="shop/domain/holds.py",
        find="        expires_at=state.now + state.hold_ttl,\n",
        replace="        expires_at=state.now + state.hold_ttl * 1000,\n",
        tests=("tests/test_cart_api.py", "tests/test_expiry.py"),
        k="expire or expiry or time_left",
    ),
    Fault(
        name="catalog_available_ignores_reserved",
        breaks="the catalog's available counts held units as gone",
        file="shop/domain/catalog.py",
        find='        "available": product.available,\n',
        replace='        "available": product.on_hand,\n',
        tests=("tests/test_catalog_api.py",),
        k="available",
    ),
    # --- one per row of the README's guarantees table -------------------------------------------
    Fault(
        name="hold_granted_beyond_stock",
        breaks="every unit sold at most once; available never negative",
        file="shop/domain/holds.py",
        find="    granted = qty\n    if state.available < qty:\n",
        replace="    granted = qty\n    if False:\n",
        tests=("tests/test_cart_api.py",),
        k="stock or sold_out or fewer",
    ),
    Fault(
        name="batch_applied_newest_first",
        breaks="first come, first served: a batch is decided in line order",
        file="shop/domain/inventory.py",
        find="    for request in fresh:\n",
        replace="    for request in reversed(fresh):\n",
        tests=("tests/test_lanes.py", "tests/test_cart_api.py"),
        k="batch_size or order",
    ),
    Fault(
        name="ledger_lookup_skipped",
        breaks="no request applied twice: a retry returns the recorded outcome",
        file="shop/domain/inventory.py",
        find="        done = recorded_outcomes(session, [r.request_id for r in requests])\n",
        replace="        done = {}\n",
        tests=("tests/test_lanes.py",),
        k="twice or in_flight",
    ),
    Fault(
        name="no_in_flight_list",
        breaks="a consumer killed mid-apply loses nothing (reliable in-flight list)",
        file="shop/lanes/scripts/take.lua",
        find="    redis.call('RPUSH', KEYS[2], unpack(ids))\n",
        replace="",
        tests=("tests/test_lanes.py",),
        k="in_flight",
    ),
    Fault(
        name="fence_not_checked",
        breaks="a stale consumer cannot apply (the fence in the database)",
        file="shop/domain/ledger.py",
        find="            where=SkuFence.token <= token,\n",
        replace="            where=None,\n",
        tests=("tests/test_lanes.py",),
        k="stale or fenc",
    ),
    Fault(
        name="expiry_returns_units_twice",
        breaks="expiry is a conditional update: a second expiry of one hold changes nothing",
        # The one check of every expiry (holds and waitlist entries): only what is still live expires.
        file="shop/domain/stock_state.py",
        find=(
            "    if found.status != live:\n"
            '        return {"outcome": Outcome.NOOP, key: value, "reason": f"{noun} is {found.status}"}\n'
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
        file="shop/lanes/expiry.py",
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
        # The consumer meets an outage when it takes the lane's fencing token from the database
        # (issue 10 item 12), before any batch: there it must wait and retry, not die.
        find=(
            "        except DBAPIError as exc:\n"
            '            log.warning("database unavailable issuing a fence for %s: %s", lane, exc)\n'
        ),
        replace=(
            "        except ZeroDivisionError as exc:\n"
            '            log.warning("database unavailable issuing a fence for %s: %s", lane, exc)\n'
        ),
        # Before that, a lane whose pause Redis has not cached is read back from the database
        # (issue 10 item 8): PostgreSQL refusing connections is met there first.
        also=(
            (
                "shop/lanes/pausing.py",
                "    except SQLAlchemyError as exc:\n",
                "    except ZeroDivisionError as exc:\n",
            ),
        ),
        # One test per database: the SQLite lock, and PostgreSQL refusing connections.
        tests=(
            "tests/test_faults.py::test_a_locked_database_delays_requests_but_loses_and_doubles_none",
            "tests/test_faults.py::test_a_database_refusing_connections_turns_readiness_red_then_green",
        ),
    ),
    Fault(
        name="waitlist_served_after_the_request",
        breaks="returned units go to the waitlist before the next request in line",
        file="shop/domain/inventory.py",
        find="        serve_waitlist(session, state, request.request_id)\n",
        replace="",
        tests=("tests/test_waitlist.py",),
    ),
    Fault(
        name="late_charge_not_refunded",
        breaks="nothing paid is lost: an order that expired during the charge is refunded",
        file="shop/domain/payments.py",
        find="            Order.pay_before > now,\n",
        replace="",
        tests=("tests/test_late_charge.py",),
    ),
    Fault(
        name="another_carts_order_visible",
        breaks="nobody reads or changes what isn't theirs",
        file="shop/domain/orders.py",
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
        file="shop/domain/audit.py",
        find="        elif last[sku][1] != current:\n",
        replace="        elif False:\n",
        tests=("tests/test_ledger.py",),
        k="audit",
    ),
    # --- issue 10's rows ------------------------------------------------------------------------
    Fault(
        name="one_cart_batch_expiry_scheduled_per_request",
        breaks="several presses from one cart in one batch are each answered (expiry scheduled once)",
        # Both layers of the fix: the batch's de-duplication and the recorder keyed by job hash.
        file="shop/domain/effects.py",
        find="        return list({expiry.job_id: expiry for expiry in found}.values())\n",
        replace="        return found\n",
        also=(
            (
                "shop/lanes/job_hashes.py",
                "            self.entries[self._last_key] = (key, member, score)\n",
                "            self.entries[self._last_key + str(len(self.entries))] = (key, member, score)\n",
            ),
        ),
        tests=("tests/test_one_cart_batch.py",),
    ),
    Fault(
        name="poison_fails_its_whole_batch",
        breaks="a poison request fails alone: the batch is split down to it",
        file="workers/consumer.py",
        find=(
            "        middle = len(requests) // 2\n"
            "        token = self._apply_isolating(lane, token, requests[:middle], outcomes, effects)\n"
            "        return self._apply_isolating(lane, token, requests[middle:], outcomes, effects)\n"
        ),
        replace="        outcomes.update({r.request_id: error for r in requests})\n        return token\n",
        tests=("tests/test_poison.py",),
    ),
    Fault(
        name="supervisor_never_restarts",
        breaks="make run restarts a process that dies, alone, with backoff",
        file="devtools/processes.py",
        find="            if now >= item.restart_at:\n",
        replace="            if False:\n",
        tests=("tests/test_supervisor.py",),
    ),
    Fault(
        name="overdue_holds_not_expired_at_batch_start",
        breaks="a hold past its expiry holds nothing: the batch frees overdue holds first",
        file="shop/domain/stock_state.py",
        find="    overdue = _expire_overdue_holds(session, sku, now)\n",
        replace="    overdue: list[tuple[int, int, str | None]] = []\n",
        tests=("tests/test_overdue_holds.py",),
    ),
    Fault(
        name="sale_start_not_enforced_at_apply",
        breaks="sale rules come from the database at apply time (sale_starts_at)",
        file="shop/domain/holds.py",
        find="    if starts is None or starts <= state.now:\n        return None\n",
        replace="    return None\n",
        tests=("tests/test_queued_rules.py",),
    ),
    Fault(
        name="fencing_tokens_from_redis",
        breaks="fencing tokens never repeat: issued by the database, not Redis's counter",
        file="workers/consumer.py",
        find="        if not self.lanes.acquire(lane, self.name, self.lease_ms):\n            return 0\n",
        replace=(
            "        redis_token = self.lanes.acquire(lane, self.name, self.lease_ms)\n"
            "        if True:\n"
            "            return redis_token\n"
        ),
        tests=("tests/test_fencing.py",),
    ),
    Fault(
        name="payment_duplicate_does_not_wait",
        breaks="one key = one charge: a duplicate waits for the attempt in flight and returns its answer",
        file="shop/domain/payments.py",
        find="            payment = _wait_until_settled(session, payment.id, wait)\n",
        replace="            pass\n",
        tests=("tests/test_payment_races.py",),
        k="one_key or duplicate",
    ),
    Fault(
        name="payment_in_flight_not_checked",
        breaks="at most one payment attempt in flight per order (payment_in_progress)",
        file="shop/domain/payments.py",
        find="            if in_flight is not None:\n                raise _in_progress()\n",
        replace="",
        tests=("tests/test_payment_races.py",),
        k="different_keys or in_flight or in_progress",
    ),
    Fault(
        name="reconciler_never_asks_the_gateway",
        breaks="a payment whose web process died mid-charge is settled by the reconciler",
        file="shop/domain/payments.py",
        find="    charge = gateway.lookup(idempotency_key=payment.id)\n",
        replace="    charge = None\n",
        tests=("tests/test_reconciler.py",),
    ),
    Fault(
        name="cross_site_operator_request_allowed",
        breaks="operator changes come only from this site (403 cross_site)",
        file="shop/web/operators.py",
        find="    header = foreign_header()\n    if header is not None:\n",
        replace="    header = foreign_header()\n    if False:\n",
        tests=("tests/test_cross_site.py",),
    ),
    Fault(
        name="json_endpoints_accept_any_body",
        breaks="JSON endpoints take only JSON (415 for text/plain, forms, multipart)",
        file="shop/web/helpers.py",
        find=(
            "    if not request.is_json and (request.mimetype or request.get_data(cache=True)):\n"
            "        raise NotJson(\n"
        ),
        replace="    if False:\n        raise NotJson(\n",
        also=(
            (
                "shop/web/helpers.py",
                "    data = request.get_json(silent=True) if",
                "    data = request.get_json(force=True, silent=True) if",
            ),
        ),
        tests=("tests/test_content_types.py",),
    ),
    Fault(
        name="pause_lives_only_in_redis",
        breaks="a pause survives a Redis restart (the database is the source of truth)",
        file="shop/lanes/pausing.py",
        find="    if services.redis.hexists(PAUSE_VERSIONS, lane):\n        return True\n",
        replace="    return True\n",
        tests=("tests/test_pause_state.py",),
    ),
    Fault(
        name="built_in_secret_key",
        breaks="no forgeable sessions: no built-in SECRET_KEY outside the tests",
        file="config.py",
        find='            secret = str(overrides.get("SECRET_KEY", _str("SECRET_KEY")))\n',
        replace=(
            '            secret = str(overrides.get("SECRET_KEY", '
            '_str("SECRET_KEY", "dev-only-insecure-secret-key")))\n'
        ),
        tests=("tests/test_secrets.py",),
        k="built_in or forged",
    ),
    Fault(
        name="cart_idempotency_key_ignored",
        breaks="a retried add-to-cart adds once (Idempotency-Key on POST /chart, PUT /chart)",
        file="shop/lanes/admission.py",
        find="    if idempotency_key is None:\n        return admit(None)\n",
        replace="    return admit(None)\n",
        tests=("tests/test_cart_idempotency.py",),
    ),
    Fault(
        name="checkout_takes_an_overdue_hold",
        breaks="a checkout racing its hold's expiry orders the hold only while it is live (issue 17)",
        file="shop/domain/orders.py",
        find="    live = [h for h in lines if h.status == HoldStatus.ACTIVE and h.expires_at > now]\n",
        replace="    live = [h for h in lines if h.status == HoldStatus.ACTIVE]\n",
        tests=("tests/test_expiry_races.py",),
    ),
    Fault(
        name="overdue_expiry_not_conditional",
        breaks="expiry racing a checkout changes a hold once: only an active hold is expired",
        file="shop/domain/stock_state.py",
        find="        .where(Hold.sku == sku, Hold.status == HoldStatus.ACTIVE, Hold.expires_at <= now)\n",
        replace="        .where(Hold.sku == sku, Hold.expires_at <= now)\n",
        tests=("tests/test_expiry_races.py",),
    ),
    # --- issue 16's rows ------------------------------------------------------------------------
    Fault(
        name="pages_without_a_language",
        breaks="every shopper page works for screen-reader users (axe: the page's language)",
        file="templates/base.html",
        find='<html lang="{{ lang }}">\n',
        replace="<html>\n",
        tests=("tests/test_pages_axe.py",),
    ),
    Fault(
        name="cart_page_without_order_countdown",
        breaks="no page state is a 500: the cart with an order awaiting payment",
        file="shop/web/pages/cart.py",
        find=(
            r"    orders = \[\n\s*\{\*\*o, \"seconds_left\": .*\n"
            r"\s*for o in view\[\"open_orders\"\]\n\s*\]\n"
        ),
        replace='    orders = view["open_orders"]\n',
        regex=True,
        tests=("tests/test_pages.py",),
        k="cart",
    ),
    Fault(
        name="browser_error_is_json",
        breaks="a browser never gets a JSON error (an HTML error page with a way back)",
        file="shop/__init__.py",
        find="        page = browser_error_page(500)",
        replace="        page = None",
        tests=("tests/test_pages.py",),
        k="unexpected_error",
    ),
    Fault(
        name="static_files_not_cached_for_good",
        breaks="static files are cached for good (content-hash address, immutable for a year)",
        file="shop/web/assets.py",
        find='        response.headers["Cache-Control"] = IMMUTABLE if fresh else REVALIDATE\n',
        replace='        response.headers["Cache-Control"] = REVALIDATE\n',
        tests=("tests/test_pages_caching.py",),
    ),
    Fault(
        name="text_not_compressed",
        breaks="HTML, CSS and JS are compressed for clients that accept it",
        file="shop/web/assets.py",
        find="    Compress(app)\n",
        replace="    pass\n",
        tests=("tests/test_pages_caching.py",),
    ),
    # --- the brief's data model (issue 11) ---------------------------------------------------------
    Fault(
        name="unit_conversion_ignored",
        breaks="a hold of one box takes its pieces (stock and max_per_cart count base units)",
        file="shop/lanes/scripts/admit.lua",
        find="  qty = qty * factor\n",
        replace="",
        tests=("tests/test_stock_locations.py",),
        k="box or base_units",
    ),
    Fault(
        name="payment_takes_units_off_on_hand",
        breaks="paying allocates the units (they stay on hand until shipped)",
        file="shop/domain/stock_changes.py",
        find="            loc[3] += qty\n",
        replace="            loc[1] -= qty\n",
        tests=("tests/test_stock_locations.py",),
        k="allocated or goods_issue",
        also=(
            (
                "shop/domain/stock_changes.py",
                "        state.allocated += hold.qty\n",
                "        state.on_hand -= hold.qty\n",
            ),
        ),
    ),
    Fault(
        name="hold_location_ignores_priority",
        breaks="a hold reserves at the first location by priority",
        file="shop/domain/locations.py",
        find="key=lambda loc: (loc[1], -loc[2], loc[0])",
        replace="key=lambda loc: (-loc[1], -loc[2], loc[0])",
        tests=("tests/test_stock_locations.py",),
        k="priority or spans",
    ),
    Fault(
        name="audit_ignores_movements",
        breaks="every on-hand change is explained by an item movement (audit)",
        file="shop/domain/stock_audit.py",
        find="        if moved.get(key, 0) != on_hand:\n",
        replace="        if False:\n",
        tests=("tests/test_stock_locations.py",),
        k="movements_do_not_explain",
    ),
    Fault(
        name="flash_price_not_fixed_at_hold",
        breaks="a shopper who held at the flash price pays the flash price (order lines)",
        file="shop/domain/orders.py",
        find="line_amounts(hold.qty, hold.unit_price, hold.price)",
        replace="line_amounts(hold.qty, hold.unit_price, hold.unit_price)",
        tests=("tests/test_stock_locations.py",),
        k="flash_price or discount",
    ),
)


def by_name(name: str) -> Fault:
    """Return the fault called ``name`` (KeyError names the known ones)."""
    for fault in FAULTS:
        if fault.name == name:
            return fault
    raise KeyError(f"no fault {name!r}; known: {', '.join(f.name for f in FAULTS)}")
