"""The waiting room: a request's place in line, its odds and wait, then its outcome or the next page.

The page works without JavaScript (it reloads itself); with it, its script asks ``/status``, which
long-polls for the decision and sends back the same sentences and, once decided, the outcome.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from shop.domain.errors import NotFound
from shop.lanes import admission
from shop.web import i18n, waiting, wording
from shop.web.extensions import limiter
from shop.web.helpers import JOB_ID_PATTERN, read_limit, services
from shop.web.pages.shell import bp, current_cart, html_errors, page_context, render


def _find_wait(job_id: str, with_product: bool = True) -> waiting.Wait:
    cart_id = current_cart()
    if cart_id is None or not JOB_ID_PATTERN.match(job_id):
        raise NotFound(admission.UNKNOWN_JOB_MESSAGE, code="unknown_job")
    return waiting.find_wait(services(), cart_id, job_id, with_product=with_product)


def _forward_to(wait: waiting.Wait) -> str | None:
    """Where a finished request sends its shopper straight on to (its order, or the cart)."""
    if wait.outcome not in waiting.FORWARDED_OUTCOMES or wait.result is None:
        return None
    if wait.outcome == "order_created":
        return url_for("pages.order", order_id=wait.result["order_id"])
    return url_for("pages.cart")


def _whole_seconds(raw: str) -> int:
    """A small whole number of seconds from the query string; anything else is 0 (no waiting)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else 0


def _start_ahead(wait: waiting.Wait) -> int:
    """How many were ahead when the shopper joined (for the progress bar), never fewer than now."""
    raw = request.args.get("ahead", "")
    start = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 9 else 0
    return max(start, wait.ahead or 0)


def _wait_context(wait: waiting.Wait) -> dict[str, Any]:
    suggestions: list[dict] = []
    if wait.outcome in ("sold_out", "insufficient") and wait.product is not None:
        suggestions = waiting.similar_products(services(), wait.product)
    return {
        "wait": wait,
        "start": _start_ahead(wait),
        "suggestions": suggestions,
        "held_seconds": waiting.seconds_held(wait),
        "max_wait_s": services().config.LONG_POLL_MAX_SECONDS,
    }


@bp.get("/wait/<job_id>")
@html_errors
@limiter.limit(read_limit)
def wait(job_id: str) -> Response:
    current = _find_wait(job_id)
    target = _forward_to(current)
    if target:
        return redirect(target, 303)
    return render("wait.html", wait_texts=_wait_texts(current), autofocus=True, **_wait_context(current))


@bp.get("/wait/<job_id>/status")
@limiter.limit(read_limit)
def wait_status(job_id: str) -> Response:
    """Tell the waiting page's script where the request stands (same origin, so the cookie is the cart).

    While the request waits this reads Redis only (one round trip); the database is read once the
    request is decided, to render its outcome.
    """
    current = _find_wait(job_id, with_product=False)
    wait_s = min(_whole_seconds(request.args.get("wait", "")), services().config.LONG_POLL_MAX_SECONDS)
    if wait_s and not current.finished and services().decisions is not None:
        # Answer when the request is decided, or after wait_s with its place then: the page asks
        # at its own pace and still learns the decision the moment it is made.
        current = services().decisions.wait(
            current.lane, lambda: _find_wait(job_id, with_product=False), lambda w: w.finished, wait_s
        )
    if current.finished:
        current = _find_wait(job_id)
    odds = current.odds
    body: dict[str, Any] = {
        "status": current.status,
        "finished": current.finished,
        "paused": current.line_paused,
        "ahead": current.ahead,
        "place": current.place,
        "poll_after_ms": current.poll_after_ms,
        "units_left": current.units_left,
        "waitlisted": current.waitlisted,
        "prequeued": current.prequeued,
        "sale_starts_in_seconds": current.starts_in,
        "odds": odds.to_dict() if odds else None,
        "eta_seconds": current.eta.to_dict() if current.eta else None,
        "forward_to": _forward_to(current),
    }
    body.update(_wait_texts(current))
    if current.finished and not body["forward_to"]:
        # The script moves focus to the result it inserts: no autofocus in the fragment.
        body["html"] = render_template(
            "_outcome.html", **page_context(), **_wait_context(current), autofocus=False
        )
    return jsonify(body)


def _place_text(current: waiting.Wait) -> str:
    """Say where the request stands: its outcome, its place on the waitlist or in line, or its turn."""
    checkout = current.is_checkout
    if current.finished:
        return wording.outcome_title(current.outcome)
    if current.waitlisted:
        return _("You are number %(n)s on the waitlist", n=current.place or 1)
    if current.prequeued:
        return _("You are in the pre-queue")
    if current.serving_now or current.place is None:
        if checkout:
            return _("It's your turn: creating your order now…")
        return _("It's your turn: checking stock now…")
    if checkout:
        return _("You are number %(n)s in the checkout line", n=current.place)
    return _("You are number %(n)s in line", n=current.place)


def _estimate_text(current: waiting.Wait) -> str:
    """Say how long the wait may be, or why there is no estimate."""
    if current.prequeued:
        return _("Places are drawn when the sale starts")
    if current.waitlisted:
        return _("Waiting for a unit to come back")
    if current.line_paused:
        return _("The line is paused: we'll keep your place")  # nothing moves, so no estimate
    eta = current.eta
    if eta:
        return _("Estimated wait: about %(d)s", d=i18n.duration_range(eta.low, eta.high))
    return _("Estimating your wait…")


def _wait_texts(current: waiting.Wait) -> dict[str, str]:
    """The sentences the waiting page shows, in the shopper's language."""
    place = _place_text(current)
    odds = current.odds
    verdict = str(odds.verdict) if odds and odds.verdict else ""
    until = current.waitlist_until
    title = place
    if not current.finished and current.place is None:
        title = _("Preparing your order") if current.is_checkout else _("Waiting in line")
    return {
        "title": title,
        "place_text": place,
        "waitlist_text": _(
            "Sold out for now. If a unit held in another cart comes back before %(time)s, "
            "it goes straight into your cart.",
            time=i18n.wib_time(until),
        )
        if until
        else "",
        "estimate_text": _estimate_text(current),
        "units_text": _("%(n)s left", n=current.units_left) if current.units_left is not None else "",
        "held_text": _("%(n)s in other carts, may come back", n=odds.held) if odds and odds.held else "",
        "verdict": verdict,
        "verdict_text": wording.verdict_text(verdict) if verdict else "",
    }
