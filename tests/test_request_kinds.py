"""One definition per concept: every request kind has its handler and its job function, every
domain error its HTTP status, and a batch's follow-ups come from the domain. No Redis, no database."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest

from shop.domain import errors
from shop.domain.effects import BatchEffects, WaitlistResolution
from shop.domain.handlers import CHECKOUT_LANE_HANDLERS, HANDLERS, SKU_LANE_HANDLERS
from shop.domain.requests import OrderKind, Outcome, QueuedRequest, RequestKind, lane_sku, sku_lane
from shop.web.statuses import STATUS_BY_ERROR, http_status

ALL_KINDS = [*RequestKind, *OrderKind]
AT = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("kind", ALL_KINDS, ids=str)
def test_every_request_kind_has_a_handler(kind):
    assert callable(HANDLERS[kind])


def test_each_lane_decides_only_its_own_kinds():
    assert set(SKU_LANE_HANDLERS) == set(RequestKind)
    assert set(CHECKOUT_LANE_HANDLERS) == set(OrderKind)


def test_kinds_and_outcomes_leave_the_process_as_plain_strings():
    carried = pickle.loads(pickle.dumps({"outcome": Outcome.HELD, "kind": RequestKind.HOLD}))
    assert carried == {"outcome": "held", "kind": "hold"}
    assert {type(value) for value in carried.values()} == {str}


def test_a_sku_lane_name_gives_back_its_sku_and_no_other_lane_does():
    assert lane_sku(sku_lane("FLASH-1")) == "FLASH-1"
    assert lane_sku("checkout:0") is None


@pytest.mark.parametrize(
    "error",
    [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.ShopError)],
    ids=lambda cls: cls.__name__,
)
def test_every_domain_error_has_an_http_status_in_the_web_layers_table(error):
    assert not hasattr(error, "status")
    if error is not errors.ShopError:
        assert any(issubclass(error, known) for known in STATUS_BY_ERROR)


def test_a_subclass_takes_its_parents_status():
    assert http_status(errors.UnknownSku("X")) == 422
    assert http_status(errors.OrderNotPayable("paid", code="order_already_paid")) == 409
    assert http_status(errors.ShopError("no class of its own")) == 400


def test_a_batch_calls_for_the_expiry_of_each_hold_order_and_waitlist_entry_it_created():
    effects = BatchEffects()
    requests = [
        QueuedRequest("a", RequestKind.HOLD, {"cart_id": "c1"}),
        QueuedRequest("b", RequestKind.HOLD, {"cart_id": "c1"}),
        QueuedRequest("c", RequestKind.HOLD, {"cart_id": "c2"}),
        QueuedRequest("d", OrderKind.CHECKOUT, {"cart_id": "c3"}),
        QueuedRequest("e", RequestKind.HOLD, {"cart_id": "c4"}),
    ]
    held = {"outcome": "held", "sku": "S", "hold_id": 7, "expires_at": AT.isoformat()}
    outcomes = [
        held,
        held,  # the same cart's second press answers with the same hold
        {"outcome": "waitlisted", "sku": "S", "expires_at": AT.isoformat()},
        {"outcome": "order_created", "order_id": "ord_1", "pay_before": AT.isoformat()},
        {"outcome": "sold_out", "sku": "S", "available": 0},
    ]
    effects.follow(requests, outcomes)
    assert [expiry.job_id for expiry in effects.expiries()] == [
        "expire-hold-7",
        "expire-waitlist-c",
        "expire-ord_1",
    ]
    assert [expiry.job_id for expiry in effects.expiries(["c"], waitlist=False)] == ["expire-waitlist-c"]
    assert effects.handoffs == []


def test_an_order_that_returned_units_hands_them_to_each_skus_lane_once():
    effects = BatchEffects()
    request = QueuedRequest("x", OrderKind.EXPIRE_ORDER, {"order_id": "ord_1", "cart_id": "c"})
    expired = {"outcome": "order_expired", "order_id": "ord_1", "skus": ["A", "B"]}
    effects.follow([request, request], [expired, expired])
    assert [(h.lane, h.kind, h.job_id) for h in effects.handoffs] == [
        ("sku:A", "handoff", "handoff-ord_1-A"),
        ("sku:B", "handoff", "handoff-ord_1-B"),
    ]
    assert effects.expiries() == []


def test_a_waitlist_entry_given_a_hold_calls_for_that_holds_expiry():
    effects = BatchEffects()
    outcome = {"outcome": "held", "sku": "S", "hold_id": 9, "expires_at": AT.isoformat()}
    effects.resolve(WaitlistResolution("w", "c", outcome, 3))
    assert [e.job_id for e in effects.expiries()] == ["expire-hold-9"]
    assert effects.expiries((), waitlist=False) == []
