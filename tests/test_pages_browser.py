"""The shopper pages in a real browser: Debian's headless Chromium driven by Playwright.

The app is served over real HTTP and its requests are applied by a real lane consumer, one request
at a time where a test watches the line move (fixtures and helpers: ``tests/browser_support.py``).
"""

from __future__ import annotations

import re
from datetime import timedelta

from shop.domain.carts import CartTokens
from shop.domain.requests import sku_lane
from shop.lanes.admission import request_hold, request_quantity
from shop.lanes.keys import lane_key
from shop.storage.models import utcnow
from tests import browser_support as support
from tests.browser_support import (
    MOUSE,
    PHONE_SCREEN,
    SHOES,
    add_to_cart,
    checkout_to_order_page,
    expect,
    seconds_on,
    shoot,
)
from tests.helpers import others_in_line

# The shared browser fixtures, bound here so that pytest finds them for this module.
browser, live, new_page, screenshots = support.FIXTURES


# --- the journeys ------------------------------------------------------------------------------


def test_a_shopper_browses_waits_in_line_holds_checks_out_and_pays(
    new_page, services, serve_one, drain, screenshots
):
    page = new_page()
    page.goto("/")
    expect(page.get_by_role("heading", name="Today's flash sale")).to_be_visible()
    expect(page.locator(".result-count")).to_have_text("36 products")
    expect(page.locator(".card .price").first).to_have_text(re.compile(r"^Rp \d{1,3}(\.\d{3})+$"))
    shoot(page, screenshots, "01-storefront")

    page.get_by_role("navigation", name="Categories").get_by_role("link", name="Electronics").click()
    page.wait_for_url(re.compile(r"category=electronic"))
    page.get_by_label("Sort by").select_option("price")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"sort=price"))
    shown = page.locator(".card .price").all_inner_texts()
    prices = [int(price.removeprefix("Rp ").replace(".", "")) for price in shown]
    assert prices == sorted(prices) and len(prices) == 11

    page.get_by_role("searchbox", name="Search products").fill("mouse")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"search=mouse"))
    expect(page.locator(".result-count")).to_contain_text("results for “mouse”")
    expect(page.get_by_role("heading", level=1)).to_have_text("Results for “mouse”")
    expect(page).to_have_title(re.compile("^Results for “mouse”"))
    page.get_by_role("link", name=re.compile("Logi Silent Wireless Mouse")).click()
    expect(page.get_by_role("heading", name="Logi Silent Wireless Mouse")).to_be_visible()

    others_in_line(services, MOUSE, 3)
    page.get_by_label("Quantity").select_option("2")
    page.get_by_role("button", name="Add to cart").click()
    place = page.locator("#place")
    expect(place).to_have_text("You are number 4 in line")
    expect(page.get_by_text("120 left")).to_be_visible()
    shoot(page, screenshots, "02-waiting-in-line")

    for number in (3, 2, 1):
        assert serve_one(MOUSE) == 1
        expect(place).to_have_text(f"You are number {number} in line")
    expect(page.get_by_text("117 left")).to_be_visible()
    assert serve_one(MOUSE) == 1
    expect(page.get_by_role("heading", name="It's yours!")).to_be_visible()
    expect(page.get_by_text("2 × Logi Silent Wireless Mouse is in your cart.")).to_be_visible()

    page.get_by_role("link", name="Go to cart").click()
    countdown = page.locator(".line [data-countdown]")
    expect(countdown).to_have_text(re.compile(r"^(9:\d\d|10:00)$"))
    before = seconds_on(countdown)
    page.wait_for_timeout(2100)
    assert 1 <= before - seconds_on(countdown) <= 3
    expect(page.locator(".summary")).to_contain_text("Rp 298.000")
    shoot(page, screenshots, "03-cart")

    checkout_to_order_page(page, drain)
    expect(page.locator(".deadline [data-countdown]")).to_have_text(re.compile(r"^1[45]:\d\d$"))
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name="Pay Rp 298.000").click()
    expect(page.get_by_role("heading", name="Payment received")).to_be_visible()
    expect(page.locator(".summary")).to_contain_text("Paid")
    shoot(page, screenshots, "04-paid")
    assert page.js_errors == []


def test_a_shopper_behind_the_last_units_is_told_plainly_and_offered_similar_items(
    new_page, services, drain, screenshots
):
    page = new_page(locale="id-ID", viewport=PHONE_SCREEN)
    page.goto("/")
    expect(page.get_by_role("heading", name="Flash sale hari ini")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SCREEN["width"]
    shoot(page, screenshots, "05-storefront-360px")

    others_in_line(services, SHOES, 5)  # the last five pairs, all ahead of us
    add_to_cart(page, SHOES)
    expect(page.locator("#place")).to_have_text("Anda nomor 6 dalam antrean")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SCREEN["width"]
    shoot(page, screenshots, "06-waiting-360px")

    assert drain() == 6
    expect(page.get_by_role("heading", name="Stok habis")).to_be_visible()
    expect(page.get_by_text("Urban Runner Sneakers (Flash Sale) habis sebelum giliran Anda")).to_be_visible()
    similar = page.get_by_role("region", name=re.compile("Produk serupa di Fesyen"))
    expect(similar.get_by_role("listitem")).to_have_count(4)
    expect(similar).not_to_contain_text("(Flash Sale)")  # not the sold-out item itself
    shoot(page, screenshots, "07-sold-out-360px")
    assert page.js_errors == []


def test_a_declined_card_is_explained_and_another_card_can_still_pay(new_page, drain, screenshots):
    page = new_page(viewport=PHONE_SCREEN)
    add_to_cart(page, MOUSE, 1)
    assert drain() == 1
    expect(page.get_by_role("heading", name="It's yours!")).to_be_visible()
    page.goto("/cart")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SCREEN["width"]
    shoot(page, screenshots, "08-cart-360px")
    checkout_to_order_page(page, drain)

    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_role("button", name="Pay Rp 149.000").click()
    error = page.locator(".alert--error")
    expect(error).to_have_text("Your card was declined. Nothing was charged; you can try another card.")
    expect(error).to_be_focused()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SCREEN["width"]
    shoot(page, screenshots, "09-declined-360px")
    page.get_by_label("Card number").fill("4242424242424242")
    page.get_by_role("button", name="Pay Rp 149.000").click()
    expect(page.get_by_role("heading", name="Payment received")).to_be_visible()
    assert page.js_errors == []


def test_the_waiting_page_moves_on_by_itself_with_javascript_off(
    new_page, services, serve_one, drain, screenshots
):
    page = new_page(javascript=False)
    others_in_line(services, MOUSE, 2)
    add_to_cart(page, MOUSE, 1)
    place = page.locator("#place")
    expect(place).to_have_text("You are number 3 in line")
    refresh = int(page.locator('meta[http-equiv="refresh"]').get_attribute("content"))
    assert refresh >= 5  # not every second: the page says how often, and means it
    expect(page.locator("#wait-panel noscript p")).to_contain_text(
        f"This page reloads itself every {refresh} seconds."
    )
    assert serve_one(MOUSE) == 1
    # the <noscript> refresh re-rendered it
    expect(place).to_have_text("You are number 2 in line", timeout=(refresh + 5) * 1000)
    assert drain() == 2
    expect(page.get_by_role("heading", name="It's yours!")).to_be_visible(timeout=(refresh + 5) * 1000)
    shoot(page, screenshots, "10-held-without-javascript")
    page.get_by_role("link", name="Go to cart").click()
    expect(page.locator(".line")).to_contain_text("Logi Silent Wireless Mouse")


# --- the waiting room that knows the stock: odds, wait estimate, waitlist ----------------------------


def carts(count: int) -> list[str]:
    tokens = CartTokens("other-shoppers")
    return [tokens.issue()[1] for _ in range(count)]


def test_the_waiting_page_shows_the_odds_and_a_wait_estimate_and_updates_them_as_the_line_moves(
    new_page, services, serve_one, drain, screenshots
):
    first, second, *ahead = carts(5)
    request_hold(services, first, SHOES, 1)
    request_hold(services, second, SHOES, 1)
    assert drain() == 2  # 2 of the 5 pairs in carts, 3 available
    for cart_id in ahead:
        request_hold(services, cart_id, SHOES, 1)
    request_quantity(services, first, SHOES, 0)  # the first shopper gives a pair back, ahead of us
    services.redis.hset(lane_key(sku_lane(SHOES), "stats"), "rate", "2.00")  # as the consumer measured

    page = new_page()
    add_to_cart(page, SHOES)
    expect(page.locator("#place")).to_have_text("You are number 5 in line")
    expect(page.get_by_text("3 left")).to_be_visible()
    expect(page.get_by_text("2 in other carts, may come back")).to_be_visible()
    verdict = page.locator("[data-verdict]")
    expect(verdict).to_have_text("Uncertain: you get it only if units in other carts come back.")
    expect(page.locator("[data-estimate]")).to_have_text("Estimated wait: about 1–4 s")
    shoot(page, screenshots, "11-waiting-odds-uncertain")

    for _ in ahead:
        assert serve_one(SHOES) == 1
    expect(page.get_by_text("0 left")).to_be_visible()
    expect(verdict).to_have_text("Uncertain: you get it only if units in other carts come back.")
    assert serve_one(SHOES) == 1  # the pair given back
    expect(verdict).to_have_text("Good chance: there is enough for everyone ahead of you, and for you.")
    expect(page.get_by_text("1 left")).to_be_visible()
    shoot(page, screenshots, "12-waiting-odds-likely")
    assert serve_one(SHOES) == 1
    expect(page.get_by_role("heading", name="It's yours!")).to_be_visible()
    assert page.js_errors == []


def test_a_shopper_behind_more_requests_than_there_are_units_is_told_they_are_on_the_waitlist(
    new_page, services, screenshots
):
    for cart_id in carts(5):
        request_hold(services, cart_id, SHOES, 1)  # all five pairs are asked for ahead of us

    page = new_page(locale="id-ID", viewport=PHONE_SCREEN)
    add_to_cart(page, SHOES)

    expect(page.locator("#place")).to_have_text("Anda nomor 6 dalam antrean")
    expect(page.locator("[data-verdict]")).to_have_text(
        "Anda masuk daftar tunggu: yang antre di depan Anda meminta lebih banyak dari stok yang ada, "
        "termasuk yang masih di keranjang."
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SCREEN["width"]
    shoot(page, screenshots, "13-waitlist-told-at-once-360px")
    assert page.js_errors == []


def test_a_shopper_joins_the_waitlist_on_a_sold_out_item_and_gets_a_returned_unit(
    new_page, services, drain, screenshots
):
    holders = carts(5)
    for cart_id in holders:
        request_hold(services, cart_id, SHOES, 1)
    assert drain() == 5  # every pair is in someone's cart

    page = new_page(viewport=PHONE_SCREEN)
    page.goto(f"/p/{SHOES}")
    held = page.get_by_text("Sold out for now, but 5 are held in other carts and may come back.")
    expect(held).to_be_visible()
    page.get_by_role("button", name="Join the waitlist").click()
    page.wait_for_url(re.compile(r"/wait/"))
    assert drain() == 1
    place = page.locator("#place")
    expect(place).to_have_text("You are number 1 on the waitlist")
    note = page.locator("[data-waitlist-note]")
    expect(note).to_contain_text("If a unit held in another cart comes back before")
    expect(page.locator("[data-estimate]")).to_have_text("Waiting for a unit to come back")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_SCREEN["width"]
    shoot(page, screenshots, "14-waitlisted-360px")

    request_quantity(services, holders[0], SHOES, 0)  # one shopper gives their pair back
    assert drain() == 1
    expect(page.get_by_role("heading", name="It's yours!")).to_be_visible()
    shoot(page, screenshots, "15-waitlist-handed-a-returned-pair-360px")
    assert page.js_errors == []


def test_before_the_sale_starts_a_shopper_waits_in_the_prequeue_with_a_countdown(
    new_page, make_product, screenshots
):
    starts = (utcnow() + timedelta(seconds=90)).isoformat()
    make_product("FLASH-WATCH-09", on_hand=10, max_per_cart=1, name="Smartwatch", sale_starts_at=starts)

    page = new_page()
    add_to_cart(page, "FLASH-WATCH-09")

    expect(page.locator("#place")).to_have_text("You are in the pre-queue")
    countdown = page.locator("[data-prequeue] [data-countdown]")
    expect(countdown).to_have_text(re.compile(r"^1:[23]\d$"))
    expect(page.locator("[data-prequeue]")).to_contain_text("being early gives no advantage")
    expect(page.locator("[data-estimate]")).to_have_text("Places are drawn when the sale starts")
    shoot(page, screenshots, "16-prequeue-countdown")
    assert page.js_errors == []
