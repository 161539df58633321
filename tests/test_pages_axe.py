"""axe-core on every shopper page state, in both languages, on a desktop and at 360 px.

axe-core's own script (``axe.min.js``, shipped by the ``axe-playwright-python`` package that
requirements-dev.txt pins, so ``make test`` installs it) runs inside each page; a violation of
impact serious or critical fails the test with its rule, its help text and the elements. Every
state is also photographed to ``test-artifacts/screenshots/axe-<language>-<width>-<state>.png``.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from importlib import resources

import pytest
from sqlalchemy import update

from shop.domain.requests import sku_lane
from shop.storage.models import Hold, Order, utcnow
from tests import browser_support as support
from tests.browser_support import (
    DESKTOP,
    MOUSE,
    PHONE_SCREEN,
    SHOES,
    add_to_cart,
    expect,
    shoot,
)
from tests.helpers import OPERATOR, others_in_line

# The shared browser fixtures, bound here so that pytest finds them for this module.
browser, live, new_page, screenshots = support.FIXTURES

try:
    AXE_SOURCE = resources.files("axe_playwright_python").joinpath("axe.min.js").read_text()
except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - only without requirements-dev
    pytest.skip(
        "axe test skipped: axe-core's axe.min.js is missing (pip install -r requirements-dev.txt)",
        allow_module_level=True,
    )

SERIOUS = ("serious", "critical")
PAUSED_SKU = "MOUSE-GM-02"
PACKED = "MOUSE-BT-04"  # sold by the piece and by the pack of 5


def axe_violations(page) -> list[str]:
    """Run axe-core (WCAG 2.x A and AA, and best practices) on the page; describe serious violations."""
    page.evaluate(AXE_SOURCE)  # evaluated, not a <script>: the page's policy allows no inline script
    result = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa",
                                              "best-practice"] },
            resultTypes: ["violations"] })"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> " + "; ".join(n["target"][0] for n in v["nodes"][:5])
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


# Both languages, a desktop and a 360 px phone; SHOP_AXE_ALL=1 runs all four combinations.
COMBINATIONS = [("en-US", DESKTOP), ("id-ID", PHONE_SCREEN)]
if os.environ.get("SHOP_AXE_ALL") == "1":
    COMBINATIONS += [("id-ID", DESKTOP), ("en-US", PHONE_SCREEN)]


@pytest.mark.parametrize(
    ("locale", "viewport"),
    COMBINATIONS,
    ids=[f"{locale[:2]}-{viewport['width']}px" for locale, viewport in COMBINATIONS],
)
def test_every_page_state_has_no_serious_accessibility_violations(
    new_page, services, drain, screenshots, locale, viewport
):
    page = new_page(locale=locale, viewport=viewport)
    lang = locale[:2]
    found: dict[str, list[str]] = {}

    def check(state: str) -> None:
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.lang") == lang
        assert page.locator('meta[name="description"]').get_attribute("content")
        shoot(page, screenshots, f"axe-{lang}-{viewport['width']}-{state}")
        violations = axe_violations(page)
        if violations:
            found[state] = violations

    page.goto("/")
    check("storefront")
    page.goto("/?search=mouse&sort=price")
    check("search")
    page.goto(f"/p/{MOUSE}")
    check("product")
    page.goto(f"/p/{PACKED}")
    expect(page.get_by_label(re.compile("Unit|Satuan"))).to_be_visible()
    check("product-with-units")
    page.goto("/no/such/page")
    check("error-404")
    page.goto("/cart")
    check("cart-empty")

    others_in_line(services, SHOES, 5)  # the last five pairs are asked for ahead of us
    add_to_cart(page, SHOES)
    check("waiting-in-line")
    assert drain() == 6
    page.reload()
    expect(page.locator("[data-outcome=sold_out]")).to_be_visible()
    check("waiting-sold-out")
    page.goto(f"/p/{SHOES}")
    check("product-sold-out")

    services.lanes.pause(sku_lane(PAUSED_SKU))
    add_to_cart(page, PAUSED_SKU)
    expect(page.locator("[data-estimate]")).to_contain_text(re.compile("paused|dijeda"))
    check("waiting-paused")
    services.lanes.resume(sku_lane(PAUSED_SKU))
    assert drain() == 1
    page.reload()
    expect(page.locator("[data-outcome=held]")).to_be_visible()
    check("waiting-held")

    add_to_cart(page, MOUSE, 2)
    assert drain() == 1
    page.goto("/cart")
    check("cart-with-holds")
    with services.db.writing() as session, session.begin():
        session.execute(
            update(Hold).where(Hold.sku == PAUSED_SKU).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    page.reload()
    expect(page.locator(".line--expired")).to_have_count(1)
    check("cart-with-an-expired-line")

    page.locator(".summary button[type=submit]").click()
    page.wait_for_url(re.compile(r"/wait/"))
    assert drain() == 1
    page.wait_for_url(re.compile(r"/orders/ord_"))
    check("order-awaiting-payment")
    page.goto("/cart")
    expect(page.locator(".notice--pay")).to_be_visible()
    check("cart-with-an-open-order")

    page.go_back()
    page.locator("#card_number").fill("4000 0000 0000 0002")
    page.locator(".card-form button[type=submit]").click()
    expect(page.locator(".alert--error")).to_be_focused()
    check("order-card-declined")
    page.locator("#card_number").fill("4000 0000 0000 0001")  # fails the Luhn check
    page.locator(".card-form button[type=submit]").click()
    expect(page.locator("#card_number")).to_be_focused()
    check("order-card-mistyped")
    page.locator("#card_number").fill("4242 4242 4242 4242")
    page.locator(".card-form button[type=submit]").click()
    expect(page.locator("[data-outcome=paid]")).to_be_visible()
    check("order-paid")
    assert drain() == 1  # the SKU's lane allocates the paid units
    page.goto("/cart")
    check("cart-after-a-paid-order")

    add_to_cart(page, MOUSE, 1)
    assert drain() == 1
    page.goto("/cart")
    page.locator(".summary button[type=submit]").click()
    assert drain() == 1
    page.wait_for_url(re.compile(r"/orders/ord_"))
    with services.db.writing() as session, session.begin():
        session.execute(
            update(Order)
            .where(Order.status == "pending_payment")
            .values(pay_before=utcnow() - timedelta(seconds=1))
        )
    page.reload()
    expect(page.locator("[data-outcome=expired]")).to_be_visible()
    check("order-expired")

    assert found == {}
    # The 404, the declined and the mistyped card answer with error statuses on purpose.
    assert [e for e in page.js_errors if not e.startswith("Failed to load resource")] == []


def log_in_as_operator(page) -> None:
    """Fill in and send the operator login form the page shows."""
    page.get_by_label(re.compile("user name", re.I)).fill(OPERATOR[0])
    page.get_by_label(re.compile("password", re.I)).fill(OPERATOR[1])
    page.get_by_role("button", name=re.compile("log in", re.I)).click()


def test_an_operator_follows_a_sku_from_the_board_to_its_stock_and_movements(new_page, screenshots):
    page = new_page()
    page.goto("/admin")
    log_in_as_operator(page)
    page.get_by_role("link", name=MOUSE, exact=True).click()

    expect(page.get_by_role("heading", name=re.compile(MOUSE))).to_be_visible()
    locations = page.locator("table").first.locator("tbody th[scope=row]")
    assert locations.all_inner_texts() == ["JKT", "SBY"]
    movements = page.locator("table").nth(1).locator("tbody tr")
    expect(movements.first).to_contain_text("GR")
    shoot(page, screenshots, "board-sku-stock")
    assert axe_violations(page) == []


def test_an_operator_searches_the_board_and_pages_through_it(new_page, screenshots):
    page = new_page()
    page.goto("/admin?limit=10")
    log_in_as_operator(page)

    page.goto("/admin?limit=10")
    expect(page.get_by_label(re.compile("Refresh every"))).to_be_checked()
    rows = page.locator("tbody th[scope=row]")
    expect(rows).to_have_count(10)
    first = rows.all_inner_texts()
    page.get_by_role("link", name="Next").click()
    expect(rows).to_have_count(10)
    assert not set(rows.all_inner_texts()) & set(first)
    expect(page.get_by_role("link", name="First page")).to_be_visible()

    page.get_by_label("SKU or name").fill("Mouse")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(4)
    assert all(sku.startswith("MOUSE-") for sku in rows.all_inner_texts())
    shoot(page, screenshots, "board-search")
    assert axe_violations(page) == []


def test_the_board_shows_every_column_on_a_1280_px_screen_with_nothing_cut_off(new_page, screenshots):
    page = new_page(viewport={"width": 1280, "height": 800})
    page.goto("/admin")
    log_in_as_operator(page)
    expect(page.locator("tbody th[scope=row]").first).to_be_visible()

    table = page.locator(".scroll")
    assert table.evaluate("el => el.scrollWidth <= el.clientWidth")  # nothing to scroll sideways to
    for name in ("Sales", "Consumer"):
        header = page.get_by_role("columnheader", name=name, exact=True).bounding_box()
        assert header["x"] >= 0 and header["x"] + header["width"] <= 1280, name
    sales = page.locator("tbody tr").first.locator("td").nth(8)
    assert sales.evaluate("el => el.scrollWidth <= el.clientWidth")  # the figure itself is whole
    shoot(page, screenshots, "board-1280")
