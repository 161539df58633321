"""The shopper pages' words chosen at run time: by a category, a sort, an order status, an outcome.

Each table is built inside a function, so its texts are translated in the request's language, and
written out here in full, so ``make messages`` (gettext extraction) finds every one of them.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import pgettext

# Error pages: the page's text for an HTTP status when the refusal's own code has none.
STATUS_ERRORS = {
    400: "bad_request",
    404: "not_found",
    405: "bad_request",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


def category_name(category: str) -> str:
    """Name a category in the shopper's language; unknown ones keep their own name, capitalised."""
    names = {
        "electronic": pgettext("category", "Electronics"),
        "fashion": pgettext("category", "Fashion"),
        "groceries": pgettext("category", "Groceries"),
        "home": pgettext("category", "Home"),
        "sports": pgettext("category", "Sports"),
        "beauty": pgettext("category", "Beauty"),
    }
    return names.get(category.lower(), category.capitalize())


def sort_labels() -> dict[str, str]:
    """The storefront's sort menu, by the key the query string carries (shop.web.pages.storefront)."""
    return {
        "relevance": _("Best match"),
        "sales": _("Best selling"),
        "price": _("Price: low to high"),
        "price-desc": _("Price: high to low"),
        "newest": _("Newest"),
    }


def status_label(status: str) -> str:
    """Say an order's status."""
    labels = {
        "pending_payment": _("Awaiting payment"),
        "paid": _("Paid"),
        "expired": _("Expired"),
        "cancelled": _("Cancelled"),
    }
    return labels.get(status, status)


def outcome_title(outcome: str | None) -> str:
    """Title what became of a request in line (the waiting page's heading and its window title)."""
    titles = {
        "held": _("It's yours!"),
        "sold_out": pgettext("outcome", "Sold out"),
        "insufficient": _("Not enough left"),
        "limit_exceeded": _("Cart limit reached"),
        "customer_limit_exceeded": _("Limit per shopper reached"),
        "sale_not_started": _("The sale has not started yet"),
        "released": _("Removed from your cart"),
        "empty_cart": _("Your cart is empty"),
        "holds_expired": _("Your holds expired"),
        "order_created": _("Your order is ready for payment"),
    }
    return titles.get(outcome or "", _("Something went wrong"))


def verdict_text(verdict: str) -> str:
    """Say the odds' verdict (shop.domain.odds) in a sentence."""
    texts = {
        "likely": _("Good chance: there is enough for everyone ahead of you, and for you."),
        "uncertain": _("Uncertain: you get it only if units in other carts come back."),
        "unlikely": _(
            "You are on the waitlist: the shoppers ahead of you asked for more than there is, "
            "even counting the units in carts."
        ),
    }
    return texts.get(verdict, "")


def error_texts(status: int, code: str | None, message: str | None) -> tuple[str, str]:
    """Title and body of an error page: by the refusal's code, else by its HTTP status."""
    texts: dict[str, tuple[str, str | None]] = {
        "bad_request": (_("That request didn't look right"), None),
        "csrf": (
            _("This form has expired"),
            _(
                "For your security, forms must be sent from a freshly loaded page of this shop. "
                "Go back, reload the page and try again. Nothing was changed."
            ),
        ),
        "not_found": (
            _("Page not found"),
            _("We could not find that page. It may have moved, or belong to another cart."),
        ),
        "unknown_job": (
            _("We can't find this request"),
            _(
                "It may have expired or been lost in a restart. "
                "Check your cart, then send the request again if needed."
            ),
        ),
        "rate_limited": (_("Too many requests"), _("Please wait a moment and try again.")),
        "unavailable": (
            _("Briefly unavailable"),
            _("The shop is briefly unavailable. Please try again in a few seconds."),
        ),
        "internal": (
            _("Something went wrong"),
            _(
                "Something went wrong on our side. Nothing you did was lost: go back to the shop "
                "and try again."
            ),
        ),
    }
    key = code if code in texts else STATUS_ERRORS.get(status, "")
    title, body = texts.get(key, (_("Something went wrong"), None))
    return title, body if body is not None else (message or "")
