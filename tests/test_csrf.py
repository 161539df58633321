"""Every page form refuses a post without its CSRF token (400) and changes nothing.

Each case posts the form as another site could (no token, or a forged one), checks that nothing
changed, then posts the same form with the page's real token and sees the change happen: the
refusal was the token's, not a form that would have been refused anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from shop.domain.requests import sku_lane
from shop.storage.models import Order, OrderStatus, Payment
from tests.helpers import CSRF_FIELD, HTML

SKU = "CSRF-1"
OPERATOR = {"username": "operator", "password": "test-operator-password"}


class Browser:
    """A browser on this shop: keeps cookies, reads each form's token from the page it is on."""

    def __init__(self, client, drain) -> None:
        self.client = client
        self.drain = drain

    def page(self, path: str) -> str:
        response = self.client.get(path, headers=HTML)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return response.get_data(as_text=True)

    def token(self, page: str) -> str:
        return CSRF_FIELD.search(self.page(page)).group(1)

    def submit(self, path: str, data: dict[str, str], token: str | None):
        form = dict(data) if token is None else {**data, "csrf_token": token}
        return self.client.post(path, data=form, headers=HTML)

    def add(self, qty: int = 1) -> None:
        assert self.submit(f"/p/{SKU}", {"qty": str(qty)}, self.token(f"/p/{SKU}")).status_code == 303
        assert self.drain() == 1

    def order_path(self) -> str:
        self.add()
        key = re.search(r'name="key" value="([^"]+)"', self.page("/cart")).group(1)
        waiting = self.submit("/cart/checkout", {"key": key}, self.token("/cart"))
        assert self.drain() == 1
        forwarded = self.client.get(waiting.headers["Location"], headers=HTML)
        return forwarded.headers["Location"]

    def log_in(self) -> None:
        response = self.submit("/admin/login", OPERATOR, self.token("/admin/login"))
        assert response.status_code == 303

    def is_operator(self) -> bool:
        return self.client.get("/admin", headers=HTML).status_code == 200


@dataclass
class Form:
    """A page form: how to reach it, what posting it does, and how to tell whether it did."""

    path: str
    data: dict[str, str]
    token_page: str
    done: Callable[[], bool]


def product_form(b: Browser, services) -> Form:
    return Form(f"/p/{SKU}", {"qty": "1"}, f"/p/{SKU}", lambda: b.drain() == 1)


def cart_line_form(b: Browser, services) -> Form:
    return Form(f"/cart/items/{SKU}", {"qty": "2"}, "/cart", lambda: b.drain() == 1)


def checkout_form(b: Browser, services) -> Form:
    b.add()
    key = re.search(r'name="key" value="([^"]+)"', b.page("/cart")).group(1)
    return Form("/cart/checkout", {"key": key}, "/cart", lambda: b.drain() == 1 and _orders(services) == 1)


def pay_form(b: Browser, services) -> Form:
    order_path = b.order_path()
    html = b.page(order_path)
    data = {
        "key": re.search(r'name="key" value="([^"]+)"', html).group(1),
        "amount": re.search(r'name="amount" value="([0-9]+)"', html).group(1),
        "card_number": "4242424242424242",
    }
    return Form(f"{order_path}/pay", data, order_path, lambda: _paid(services))


def language_form(b: Browser, services) -> Form:
    return Form("/language", {"lang": "en", "next": "/"}, "/", lambda: "Add to cart" in b.page(f"/p/{SKU}"))


def login_form(b: Browser, services) -> Form:
    return Form("/admin/login", OPERATOR, "/admin/login", b.is_operator)


def logout_form(b: Browser, services) -> Form:
    b.log_in()
    return Form("/admin/logout", {}, "/admin", lambda: not b.is_operator())


def pause_form(b: Browser, services) -> Form:
    b.log_in()
    return Form(f"/admin/board/{SKU}/pause", {}, "/admin", lambda: services.lanes.is_paused(sku_lane(SKU)))


def resume_form(b: Browser, services) -> Form:
    b.log_in()
    services.lanes.pause(sku_lane(SKU))
    return Form(
        f"/admin/board/{SKU}/resume", {}, "/admin", lambda: not services.lanes.is_paused(sku_lane(SKU))
    )


def _orders(services) -> int:
    with services.db.reading() as session:
        return session.scalar(select(func.count()).select_from(Order))


def _paid(services) -> bool:
    with services.db.reading() as session:
        order = session.scalars(select(Order)).one()
        payments = session.scalar(select(func.count()).select_from(Payment))
        return order.status == OrderStatus.PAID and payments == 1


FORMS: dict[str, Callable[[Browser, Any], Form]] = {
    "product: add to cart": product_form,
    "cart: change a line": cart_line_form,
    "cart: check out": checkout_form,
    "order: pay": pay_form,
    "language": language_form,
    "operator: log in": login_form,
    "operator: log out": logout_form,
    "board: pause": pause_form,
    "board: resume": resume_form,
}


@pytest.mark.parametrize("forged", [None, "forged-token"], ids=["no token", "forged token"])
@pytest.mark.parametrize("name", list(FORMS))
def test_a_page_form_without_its_csrf_token_is_refused_and_changes_nothing(
    client, services, make_product, drain, name, forged
):
    make_product(SKU, on_hand=5, max_per_cart=3)
    browser = Browser(client, drain)
    form = FORMS[name](browser, services)

    refused = browser.submit(form.path, form.data, forged)

    assert refused.status_code == 400, refused.get_data(as_text=True)[:300]
    assert refused.mimetype == "text/html"
    assert not form.done()
    # The same form with the page's own token does what it says: only the token was missing.
    honest = browser.submit(form.path, form.data, browser.token(form.token_page))
    assert honest.status_code == 303, honest.get_data(as_text=True)[:300]
    assert form.done()
