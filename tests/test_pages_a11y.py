"""Keyboard, focus, announcements and titles of the shopper pages, in Debian's Chromium.

Fixtures and helpers: ``tests/browser_support.py`` (skipped, saying why, where Chromium is missing).
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from shop.storage.models import Hold, utcnow
from tests import browser_support as support
from tests.browser_support import MOUSE, PHONE_SCREEN, add_to_cart, expect
from tests.helpers import others_in_line

# The shared browser fixtures, bound here so that pytest finds them for this module.
browser, live, new_page, screenshots = support.FIXTURES

LIVE_REGIONS = "[aria-live], [role=status], [role=alert], [role=log], output"


def record_announcements(page) -> None:
    """Keep every message the page's live region is given, in order, in window.__said."""
    page.evaluate(
        """() => {
        window.__said = [];
        const region = document.getElementById("announcer");
        new MutationObserver(() => { if (region.textContent) window.__said.push(region.textContent); })
            .observe(region, { childList: true, characterData: true, subtree: true });
    }"""
    )


def said(page) -> list[str]:
    return page.evaluate("window.__said")


def focused(page) -> str:
    return page.evaluate(
        "(() => { const e = document.activeElement; return e.id || e.tagName.toLowerCase(); })()"
    )


def test_the_sort_menu_applies_only_on_its_button_and_keeps_focus_on_the_menu(new_page):
    page = new_page()
    page.goto("/")
    navigations = []
    page.on(
        "framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None
    )
    sort = page.get_by_label("Sort by")
    sort.focus()
    page.keyboard.press("ArrowDown")  # a closed menu: chooses the next sort, sends nothing
    expect(sort).to_have_value("price")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Apply")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"sort=price"))
    assert len(navigations) == 1  # only the Apply button sent the form
    expect(page.get_by_label("Sort by")).to_be_focused()
    expect(page.get_by_label("Sort by")).to_have_value("price")


def test_text_fields_and_menus_get_the_same_visible_outline_as_buttons(new_page):
    page = new_page()
    page.goto("/p/" + MOUSE)
    outline = (
        "(e) => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }"
    )
    page.get_by_role("button", name="Add to cart").focus()
    page.keyboard.press("Shift+Tab")  # keyboard focus, as :focus-visible needs
    expect(page.get_by_label("Quantity")).to_be_focused()
    menu = page.get_by_label("Quantity").evaluate(outline)
    page.keyboard.press("Tab")
    button = page.get_by_role("button", name="Add to cart").evaluate(outline)
    page.get_by_role("searchbox").focus()
    field = page.get_by_role("searchbox").evaluate(outline)
    assert menu == button == field == ["solid", "3px", "rgb(37, 99, 235)"]


def test_keyboard_focus_never_leaves_a_product_card_under_the_sticky_header(new_page):
    for viewport in (support.DESKTOP, PHONE_SCREEN):
        page = new_page(viewport=viewport)
        page.goto("/")
        cards = page.locator(".card-link")
        count = cards.count()
        hidden = []
        page.keyboard.press("Tab")  # the skip link
        page.keyboard.press("Enter")
        for direction in ("Tab", "Shift+Tab"):
            seen = 0
            if direction == "Shift+Tab":
                page.keyboard.press("Tab")  # one past the last card, then back through all of them
            for _ in range(count + 40):
                if seen == count:
                    break
                page.keyboard.press(direction)
                box = page.evaluate(
                    """() => { const e = document.activeElement;
                    if (!e.classList.contains("card-link")) return null;
                    const header = document.querySelector(".site-header").getBoundingClientRect();
                    return [e.getBoundingClientRect().top, header.bottom]; }"""
                )
                if box is not None:
                    seen += 1
                    if box[0] < box[1]:
                        hidden.append((viewport["width"], direction, seen))
        assert seen == count
        assert hidden == []


def test_a_waiting_page_rendered_with_its_result_focuses_the_result(new_page, drain):
    page = new_page()
    add_to_cart(page, MOUSE)
    assert drain() == 1
    page.reload()
    heading = page.get_by_role("heading", name="It's yours!")
    expect(heading).to_be_focused()
    expect(page).to_have_title(re.compile("^It's yours! · "))


def test_the_waiting_page_speaks_through_one_live_region_and_says_the_result_once(
    new_page, services, serve_one
):
    page = new_page()
    others_in_line(services, MOUSE, 2)
    add_to_cart(page, MOUSE)
    expect(page.locator("#place")).to_have_text("You are number 3 in line")
    expect(page).to_have_title(re.compile("^You are number 3 in line · "))
    assert page.locator(LIVE_REGIONS).count() == 1
    record_announcements(page)

    assert serve_one(MOUSE) == 1
    expect(page.locator("#place")).to_have_text("You are number 2 in line")
    assert serve_one(MOUSE) == 1
    expect(page.locator("#place")).to_have_text("You are number 1 in line")
    assert serve_one(MOUSE) == 1
    heading = page.get_by_role("heading", name="It's yours!")
    expect(heading).to_be_focused()  # the result is said by focusing it ...
    expect(page).to_have_title(re.compile("^It's yours! · "))
    messages = said(page)  # "It's your turn" may show in between, if a poll sees the request applied
    assert [m for m in messages if "number" in m] == ["You are number 2 in line", "You are number 1 in line"]
    assert not any("It's yours!" in m for m in messages)  # ... not announced too
    assert page.locator(LIVE_REGIONS).count() == 1
    assert page.js_errors == []


def test_polling_backs_off_while_the_line_does_not_move(new_page, services, serve_one):
    page = new_page()
    others_in_line(services, MOUSE, 3)
    add_to_cart(page, MOUSE)  # nobody serves the line: every answer is the same
    room = page.locator("[data-wait]")
    first = int(room.get_attribute("data-poll-ms"))
    expect(room).to_have_attribute("data-next-poll-ms", str(first))
    expect(room).to_have_attribute("data-next-poll-ms", str(round(first * 1.5)))
    expect(room).to_have_attribute("data-next-poll-ms", str(round(first * 1.5 * 1.5)))
    page.evaluate(RECORD_POLL_DELAYS)
    assert serve_one(MOUSE) == 1  # the line moves: back to the server's pace
    expect(page.locator("#place")).to_have_text("You are number 3 in line")
    # The answer that moved the line set the delay back to the pace the server asked for (which it
    # re-estimates as the line moves); later unchanged answers back off again from there.
    delays = page.evaluate("window.__pollDelays")
    assert any(delay == pace for delay, pace in delays), delays


RECORD_POLL_DELAYS = """() => {
  const room = document.querySelector("[data-wait]");
  window.__pollDelays = [];
  new MutationObserver(() => window.__pollDelays.push([room.dataset.nextPollMs, room.dataset.serverPollMs]))
    .observe(room, {attributes: true, attributeFilter: ["data-next-poll-ms"]});
}"""


def test_a_hold_countdown_warns_politely_once_a_minute_before_it_ends(new_page, services, drain):
    page = new_page()
    add_to_cart(page, MOUSE)
    assert drain() == 1
    with services.db.writing() as session, session.begin():
        # Five seconds before the one-minute mark: the page must load and start recording first,
        # even on a loaded machine.
        session.execute(update(Hold).values(expires_at=utcnow() + timedelta(seconds=65)))
    page.goto("/cart")
    record_announcements(page)
    countdown = page.locator(".line [data-countdown]")
    expect(countdown).to_have_text("0:58", timeout=15000)  # past the one-minute mark
    assert said(page) == ["One minute left on your hold of Logi Silent Wireless Mouse."]
