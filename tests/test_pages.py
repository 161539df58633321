"""The shopper pages through Flask's test client: what a browser is sent, and what a form post does.

CSRF protection is on (as in production); ``Visitor`` reads each form's token from the page the way
a browser submits it. Requests are applied by a real consumer (``drain()``).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from shop.domain.carts import CartTokens
from shop.domain.requests import sku_lane
from shop.lanes.admission import request_hold
from shop.lanes.keys import lane_key
from shop.storage.models import Hold, Order, Product, utcnow
from shop.web import i18n
from tests.helpers import CSRF_FIELD, HTML, Visitor, job_id_of, others_in_line, text_of

PHONE = "FLASH-PHONE-01"
MOUSE = "MOUSE-WL-01"
MOUSE_2 = "MOUSE-GM-02"
SHIRT = "SHIRT-01"


@pytest.fixture
def catalog(make_product) -> None:
    make_product(PHONE, on_hand=3, max_per_cart=2, price=1_250_000, name="Nusantara X1 Phone")
    make_product(MOUSE, on_hand=40, max_per_cart=3, price=149_000, name="Silent Wireless Mouse")
    make_product(
        MOUSE_2, on_hand=20, max_per_cart=2, price=389_000, name="Gaming Mouse", description="RGB mouse"
    )
    make_product(SHIRT, on_hand=10, max_per_cart=5, price=99_000, name="Batik Shirt", category="fashion")


@pytest.fixture
def visitor(client) -> Visitor:
    return Visitor(client)


def held_cart(visitor: Visitor, drain, sku: str = MOUSE, qty: int = 2) -> None:
    visitor.add(sku, qty)
    assert drain() >= 1


def checked_out(visitor: Visitor, drain) -> str:
    """Hold a mouse, check out, and return the order page's path."""
    held_cart(visitor, drain)
    key = re.search(r'name="key" value="([^"]+)"', visitor.page("/cart")).group(1)
    waiting = visitor.post("/cart/checkout", {"key": key}, from_page="/cart")
    assert waiting.status_code == 303
    assert drain() == 1
    forwarded = visitor.get(waiting.headers["Location"])
    assert forwarded.status_code == 303
    assert forwarded.headers["Location"].startswith("/orders/ord_")
    return forwarded.headers["Location"]


def pay_form(visitor: Visitor, order_path: str, card: str):
    html = visitor.page(order_path)
    key = re.search(r'name="key" value="([^"]+)"', html).group(1)
    amount = re.search(r'name="amount" value="([0-9]+)"', html).group(1)
    return visitor.post(
        f"{order_path}/pay", {"key": key, "amount": amount, "card_number": card}, from_page=order_path
    )


# --- storefront ----------------------------------------------------------------------------------


def test_storefront_lists_products_with_rupiah_prices_and_units_left(visitor, catalog):
    words = text_of(visitor.page("/"))
    assert "Nusantara X1 Phone" in words
    assert "Rp 1.250.000" in words
    assert "Rp 149.000" in words
    assert "Sisa 3" in words  # Indonesian unless the shopper asks otherwise


def test_storefront_search_category_and_sort_match_the_catalog_api(visitor, client, catalog):
    html = visitor.page("/?search=mouse&category=electronic&sort=price-desc")
    shown = re.findall(r'href="/p/([^"]+)"', html)
    api = client.get("/catalogs?search=mouse&category=electronic&sortBy=price&sortDir=desc").get_json()
    assert shown == [item["sku"] for item in api["items"]] == [MOUSE_2, MOUSE]
    assert "2 hasil untuk “mouse”" in text_of(html)


def test_storefront_pages_through_the_catalog(visitor, make_product):
    for n in range(14):
        make_product(f"ITEM-{n:02d}", on_hand=5, price=10_000 + n)
    first = visitor.page("/?sort=price")
    second = visitor.page("/?sort=price&page=2")
    assert re.findall(r'href="/p/([^"]+)"', first) == [f"ITEM-{n:02d}" for n in range(12)]
    assert re.findall(r'href="/p/([^"]+)"', second) == ["ITEM-12", "ITEM-13"]
    assert "Halaman 2 dari 2" in text_of(second)


def test_a_malformed_page_number_gets_an_html_error_page(visitor, catalog):
    response = visitor.get("/?page=abc")
    assert response.status_code == 400
    assert response.mimetype == "text/html"


# --- product page --------------------------------------------------------------------------------


def test_product_page_offers_quantities_up_to_the_per_cart_limit(visitor, catalog):
    html = visitor.page(f"/p/{MOUSE}")
    assert re.findall(r'<option value="(\d+)"', html) == ["1", "2", "3"]
    assert "Tambah ke keranjang" in html


def test_an_unknown_product_is_a_404_page_not_json(visitor, catalog):
    response = visitor.get("/p/NO-SUCH-SKU")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Halaman tidak ditemukan" in response.get_data(as_text=True)


def test_a_sold_out_product_offers_no_button_but_similar_items(visitor, services, drain, catalog):
    tokens = CartTokens("another-secret")
    request_hold(services, tokens.issue()[1], PHONE, 2)
    request_hold(services, tokens.issue()[1], PHONE, 1)
    drain()
    html = visitor.page(f"/p/{PHONE}")
    assert "Tambah ke keranjang" not in html
    assert "Habis" in html
    assert f'href="/p/{MOUSE}"' in html


# --- cart cookie and CSRF ------------------------------------------------------------------------


def test_adding_to_cart_puts_the_request_in_line_and_redirects_to_the_waiting_page(visitor, client, catalog):
    location = visitor.add(MOUSE, 2)
    assert location.startswith("/wait/")
    job = client.get(f"/jobs/{job_id_of(location)}", headers={"X-Cart-Token": visitor.cart_token})
    assert job.status_code == 200
    assert job.get_json()["status"] == "queued"


def test_the_cart_cookie_is_httponly_samesite_lax_and_carries_the_api_token(visitor, client, catalog, drain):
    token = CSRF_FIELD.search(visitor.page(f"/p/{MOUSE}")).group(1)
    response = client.post(f"/p/{MOUSE}", data={"csrf_token": token, "qty": "1"}, headers=HTML)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("cart="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    drain()
    api_cart = client.get("/chart", headers={"X-Cart-Token": visitor.cart_token}).get_json()
    assert [(item["sku"], item["qty"]) for item in api_cart["items"]] == [(MOUSE, 1)]


def test_the_session_cookie_is_httponly_and_samesite_lax(visitor, client, catalog):
    response = visitor.get("/")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_a_form_post_without_a_csrf_token_is_refused_with_an_html_page(visitor, client, drain, catalog):
    visitor.page(f"/p/{MOUSE}")
    response = client.post(f"/p/{MOUSE}", data={"qty": "1"}, headers=HTML)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Formulir ini sudah kedaluwarsa" in response.get_data(as_text=True)
    assert drain() == 0


def test_a_form_post_with_a_wrong_csrf_token_is_refused(visitor, client, drain, catalog):
    visitor.page(f"/p/{MOUSE}")
    response = client.post(f"/p/{MOUSE}", data={"qty": "1", "csrf_token": "forged"}, headers=HTML)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert drain() == 0


def test_the_json_api_needs_no_csrf_token(client, catalog):
    response = client.post("/chart", json={"sku": MOUSE, "qty": 1})
    assert response.status_code == 202


def test_a_forged_cart_cookie_is_dropped_for_a_new_empty_cart(visitor, client, drain, catalog):
    held_cart(visitor, drain)
    real = visitor.cart_token
    client.set_cookie("cart", real[:-2] + ("AA" if not real.endswith("AA") else "BB"))
    html = visitor.page("/cart")
    assert "Keranjang Anda kosong" in html
    assert visitor.cart_token not in (real, real[:-2] + "AA")
    assert CartTokens("test-secret-key").verify(visitor.cart_token)


# --- waiting room --------------------------------------------------------------------------------


def test_the_waiting_page_shows_the_place_in_line_and_refreshes_without_javascript(
    visitor, services, catalog
):
    others_in_line(services, MOUSE, 3)
    html = visitor.page(visitor.add(MOUSE))
    assert "Anda nomor 4 dalam antrean" in text_of(html)
    assert re.search(r'<div id="announcer"[^>]*aria-live="polite"', html)
    assert len(re.findall(r"aria-live=|role=\"(?:status|alert)\"", html)) == 1  # one live region
    refresh = re.search(r'<noscript><meta http-equiv="refresh" content="(\d+)"></noscript>', html)
    assert int(refresh.group(1)) >= 5
    assert f"dimuat ulang otomatis setiap {refresh.group(1)} detik" in text_of(html)
    assert "Sisa 40" in text_of(html)
    assert '<progress id="line-progress"' in html


def test_the_place_in_line_counts_down_as_the_line_is_served(visitor, client, services, drain, catalog):
    others_in_line(services, MOUSE, 2)
    job_id = job_id_of(visitor.add(MOUSE))
    status = client.get(f"/wait/{job_id}/status").get_json()
    assert (status["place"], status["finished"]) == (3, False)
    assert drain() == 3
    status = client.get(f"/wait/{job_id}/status").get_json()
    assert status["finished"] is True
    assert status["place"] is None
    assert "Berhasil!" in status["html"]
    assert status["forward_to"] is None


def test_a_held_request_shows_its_hold_countdown_and_the_way_to_the_cart(visitor, drain, catalog):
    wait_path = visitor.add(MOUSE, 2)
    drain()
    html = visitor.page(wait_path)
    assert "2 × Silent Wireless Mouse sudah ada di keranjang Anda." in text_of(html)
    assert re.search(r'data-countdown="(59\d|600)"', html)
    assert 'href="/cart"' in html
    assert "http-equiv" not in html  # done: no more refreshing


def test_a_sold_out_request_says_so_and_suggests_similar_items(visitor, services, drain, catalog):
    others_in_line(services, PHONE, 3)
    wait_path = visitor.add(PHONE)
    drain()
    words = text_of(visitor.page(wait_path))
    assert "Stok habis" in words
    assert "Nusantara X1 Phone habis sebelum giliran Anda" in words
    assert "Silent Wireless Mouse" in words and "Gaming Mouse" in words
    assert "Batik Shirt" not in words  # another category


def test_another_carts_waiting_page_is_a_404(visitor, client, app, catalog):
    wait_path = visitor.add(MOUSE)
    stranger = Visitor(app.test_client())
    stranger.page(f"/p/{MOUSE}")
    assert stranger.get(wait_path).status_code == 404
    assert stranger.client.get(wait_path.split("?")[0] + "/status").status_code == 404


# --- cart ----------------------------------------------------------------------------------------


def test_the_cart_shows_held_lines_with_a_countdown_and_the_total(visitor, drain, catalog):
    held_cart(visitor, drain, MOUSE, 2)
    html = visitor.page("/cart")
    words = text_of(html)
    assert "Silent Wireless Mouse" in words
    assert "Rp 298.000" in words
    assert re.search(r'data-countdown="(59\d|600)"', html)
    assert "Lanjut ke pembayaran" in words


def product_reads(services, page) -> int:
    """How many statements read the products table while ``page()`` renders."""
    seen: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(services.db.engine, "before_cursor_execute", capture)
    try:
        page()
    finally:
        event.remove(services.db.engine, "before_cursor_execute", capture)
    return sum(1 for statement in seen if re.search(r"\bFROM products\b", statement, re.I))


def test_the_cart_page_reads_its_products_at_once_however_many_lines_it_has(
    visitor, services, drain, catalog
):
    held_cart(visitor, drain, MOUSE, 1)
    one_line = product_reads(services, lambda: visitor.page("/cart"))
    held_cart(visitor, drain, MOUSE_2, 1)
    held_cart(visitor, drain, SHIRT, 1)
    three_lines = product_reads(services, lambda: visitor.page("/cart"))
    assert "Batik Shirt" in visitor.page("/cart")
    assert three_lines == one_line


def test_changing_a_quantity_goes_through_the_line(visitor, services, drain, catalog):
    held_cart(visitor, drain, MOUSE, 2)
    response = visitor.post(f"/cart/items/{MOUSE}", {"qty": "3"}, from_page="/cart")
    assert response.headers["Location"].startswith("/wait/")
    assert drain() == 1
    with services.db.reading() as session:
        assert session.scalar(select(Hold.qty).where(Hold.sku == MOUSE)) == 3


def test_removing_a_line_goes_through_the_line_and_returns_to_the_cart(visitor, drain, catalog):
    held_cart(visitor, drain, MOUSE, 2)
    response = visitor.post(f"/cart/items/{MOUSE}", {"qty": "0"}, from_page="/cart")
    drain()
    forwarded = visitor.get(response.headers["Location"])
    assert (forwarded.status_code, forwarded.headers["Location"]) == (303, "/cart")
    assert "Keranjang Anda kosong" in visitor.page("/cart")


def test_an_expired_hold_is_shown_as_expired_not_dropped(visitor, services, drain, catalog):
    held_cart(visitor, drain, MOUSE, 2)
    with services.db.writing() as session, session.begin():
        session.execute(update(Hold).values(expires_at=utcnow() - timedelta(seconds=1)))
    words = text_of(visitor.page("/cart"))
    assert "Silent Wireless Mouse" in words
    assert "Kedaluwarsa" in words
    assert "Lanjut ke pembayaran" not in words


def test_api_clients_still_get_json_at_the_shared_paths(visitor, client, drain, catalog):
    held_cart(visitor, drain)
    with_token = client.get("/cart", headers={"X-Cart-Token": visitor.cart_token})
    assert with_token.is_json and with_token.get_json()["items"][0]["sku"] == MOUSE
    assert client.get("/cart").is_json  # no Accept header: the API
    assert client.get("/orders/ord_" + "0" * 24, headers={"X-Cart-Token": visitor.cart_token}).is_json


# --- checkout and payment ------------------------------------------------------------------------


def test_checkout_then_the_success_card_ends_with_a_paid_order(visitor, services, drain, catalog):
    order_path = checked_out(visitor, drain)
    html = visitor.page(order_path)
    assert "Selesaikan pembayaran" in html
    assert re.search(r'data-countdown="(89\d|900)"', html)
    paid = pay_form(visitor, order_path, "4242 4242 4242 4242")
    assert (paid.status_code, paid.headers["Location"]) == (303, order_path)
    assert "Pembayaran diterima" in visitor.page(order_path)
    drain()  # the SKU's lane allocates the paid units
    with services.db.reading() as session:
        assert session.get(Product, MOUSE).sales == 2


def test_a_declined_card_says_so_and_the_order_stays_payable(visitor, services, drain, catalog):
    order_path = checked_out(visitor, drain)
    pay_form(visitor, order_path, "4000000000000002")
    html = visitor.page(order_path)
    assert "Kartu Anda ditolak" in html
    assert 'name="card_number"' in html
    pay_form(visitor, order_path, "4242424242424242")
    assert "Pembayaran diterima" in visitor.page(order_path)


def test_a_mistyped_card_number_is_refused_before_any_charge(visitor, services, drain, catalog):
    order_path = checked_out(visitor, drain)
    response = pay_form(visitor, order_path, "4242 4242 4242 4241")
    assert response.status_code == 422
    assert "Nomor kartu tidak valid" in response.get_data(as_text=True)
    with services.db.reading() as session:
        assert session.scalar(select(Order.status)) == "pending_payment"


def test_an_order_past_its_deadline_says_it_expired(visitor, services, drain, catalog):
    order_path = checked_out(visitor, drain)
    with services.db.writing() as session, session.begin():
        session.execute(update(Order).values(pay_before=utcnow() - timedelta(seconds=1)))
    html = visitor.page(order_path)
    assert "Pesanan ini kedaluwarsa" in html
    assert 'name="card_number"' not in html


def test_another_carts_order_page_is_a_404(visitor, app, drain, catalog):
    order_path = checked_out(visitor, drain)
    stranger = Visitor(app.test_client())
    assert stranger.get(order_path).status_code == 404
    stranger.add(MOUSE)  # now with a cart of its own
    response = stranger.get(order_path)
    assert response.status_code == 404
    assert response.mimetype == "text/html"


# --- language ------------------------------------------------------------------------------------


def test_the_language_follows_accept_language_then_the_switch(visitor, catalog):
    english = visitor.get("/", **{"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in english and "3 left" in english
    indonesian = visitor.get("/", **{"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="id">' in indonesian and "Sisa 3" in indonesian
    switched = visitor.post("/language", {"lang": "en", "next": "/?sort=price"})
    assert (switched.status_code, switched.headers["Location"]) == (303, "/?sort=price")
    after = visitor.get("/", **{"Accept-Language": "id"}).get_data(as_text=True)
    assert '<html lang="en">' in after


def test_the_language_switch_only_returns_to_this_site(visitor, catalog):
    response = visitor.post("/language", {"lang": "id", "next": "//evil.example/"})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("amount", "written"),
    [(0, "Rp 0"), (999, "Rp 999"), (1_250_000, "Rp 1.250.000"), (12_345_678_900, "Rp 12.345.678.900")],
)
def test_rupiah_are_written_with_dots_between_thousands(amount, written):
    assert i18n.rupiah(amount) == written


# --- page hygiene --------------------------------------------------------------------------------


def test_pages_carry_no_inline_script_or_style_and_a_strict_policy(visitor, drain, catalog):
    held_cart(visitor, drain)
    for path in ("/", f"/p/{MOUSE}", "/cart"):
        response = visitor.get(path)
        html = response.get_data(as_text=True)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
        assert " style=" not in html and "<style" not in html
        assert " on" + "click=" not in html


def test_an_unknown_address_is_a_page_for_browsers_and_json_for_api_clients(visitor, client):
    page = visitor.get("/no/such/page")
    assert (page.status_code, page.mimetype) == (404, "text/html")
    api = client.get("/no/such/page")
    assert (api.status_code, api.get_json()["error"]["code"]) == (404, "not_found")


# --- every state of the cart page ------------------------------------------------------------


def test_the_cart_with_an_order_awaiting_payment_shows_the_order_and_its_countdown(visitor, drain, catalog):
    order_path = checked_out(visitor, drain)
    response = visitor.get("/cart")
    assert (response.status_code, response.mimetype) == (200, "text/html")
    html = response.get_data(as_text=True)
    assert "Menunggu pembayaran" in text_of(html)
    assert re.search(r'data-countdown="(89\d|900)"', html)
    assert f'href="{order_path}"' in html


# --- unexpected errors ---------------------------------------------------------------------------


@pytest.fixture
def broken_storefront(monkeypatch):
    """Make the storefront's catalog query fail the way a bug would."""

    def fail(*args, **kwargs):
        raise RuntimeError("a bug in the catalog query")

    monkeypatch.setattr("shop.web.pages.storefront.list_products", fail)


def test_a_browser_hitting_an_unexpected_error_gets_an_html_page_with_a_title_and_a_way_back(
    visitor, broken_storefront
):
    response = visitor.get("/", **{"Accept-Language": "en"})
    html = response.get_data(as_text=True)
    assert (response.status_code, response.mimetype) == (500, "text/html")
    assert '<html lang="en">' in html
    assert re.search(r"<title>Something went wrong · [^<]+</title>", html)
    assert re.search(r'<a class="button[^"]*" href="/">Back to the shop</a>', html)


def test_an_api_client_hitting_an_unexpected_error_keeps_the_json_error(client, broken_storefront):
    response = client.get("/", headers={"Accept": "application/json"})
    assert (response.status_code, response.get_json()["error"]["code"]) == (500, "internal_error")


def test_the_empty_cart_says_so_and_offers_the_way_to_shop(visitor, catalog):
    words = text_of(visitor.page("/cart"))
    assert "Keranjang Anda kosong." in words and "Mulai belanja" in words


def test_the_cart_after_a_paid_order_is_empty_and_shows_no_order_to_pay(visitor, drain, catalog):
    order_path = checked_out(visitor, drain)
    pay_form(visitor, order_path, "4242 4242 4242 4242")
    html = visitor.page("/cart")
    assert "Keranjang Anda kosong." in text_of(html)
    assert "Menunggu pembayaran" not in text_of(html) and order_path not in html


# --- titles, languages, descriptions -------------------------------------------------------------


def title_of(html: str) -> str:
    return re.search(r"<title>([^<]*)</title>", html).group(1)


def test_the_search_page_names_the_search_term_in_its_title_and_heading(visitor, catalog):
    html = visitor.page("/?search=mouse")
    assert title_of(html).startswith("Hasil untuk “mouse”")
    assert re.search(r"<h1>Hasil untuk “mouse”</h1>", html)


def test_the_order_page_title_says_the_orders_state(visitor, services, drain, catalog):
    order_path = checked_out(visitor, drain)
    assert title_of(visitor.page(order_path)).startswith("Selesaikan pembayaran · Pesanan ord_")
    pay_form(visitor, order_path, "4242 4242 4242 4242")
    assert title_of(visitor.page(order_path)).startswith("Pembayaran diterima · Pesanan ord_")


def test_the_waiting_page_title_follows_its_state(visitor, services, drain, catalog):
    others_in_line(services, MOUSE, 2)
    wait_path = visitor.add(MOUSE)
    assert title_of(visitor.page(wait_path)).startswith("Anda nomor 3 dalam antrean · ")
    drain()
    assert title_of(visitor.page(wait_path)).startswith("Berhasil! · ")
    others_in_line(services, PHONE, 3)  # every phone is asked for ahead of us
    sold_out = visitor.add(PHONE)
    drain()
    assert title_of(visitor.page(sold_out)).startswith("Stok habis · ")


def test_english_product_names_on_indonesian_pages_are_marked_lang_en(visitor, drain, catalog):
    assert '<h1><span lang="en">Silent Wireless Mouse</span></h1>' in visitor.page(f"/p/{MOUSE}")
    assert '<span lang="en">Silent Wireless Mouse</span>' in visitor.page("/")
    held_cart(visitor, drain)
    assert '<span lang="en">Silent Wireless Mouse</span>' in visitor.page("/cart")
    english = visitor.get(f"/p/{MOUSE}", **{"Accept-Language": "en"}).get_data(as_text=True)
    assert "<h1>Silent Wireless Mouse</h1>" in english


def test_every_page_has_a_meta_description(visitor, drain, catalog):
    wait_path = visitor.add(MOUSE)
    for path in ("/", "/?search=mouse", f"/p/{MOUSE}", wait_path, "/cart", "/no/such/page"):
        html = visitor.get(path).get_data(as_text=True)
        assert re.search(r'<meta name="description" content="[^"]{20,}">', html), path


def test_the_language_buttons_names_start_with_their_visible_code_inside_a_fieldset(visitor, catalog):
    html = visitor.page("/")
    switch = re.search(r'<form class="lang-switch".*?</form>', html, re.S).group(0)
    assert 'role="group"' not in switch and "<fieldset>" in switch and "<legend" in switch
    assert "aria-label" not in switch  # the name is the button's text: its visible code first
    buttons = re.findall(r"<button[^>]*>(.*?)</button>", switch, re.S)
    names = [text_of(button).strip() for button in buttons]
    assert names == ["ID Bahasa Indonesia", "EN English"]


# --- a paused line -------------------------------------------------------------------------------


def test_a_paused_line_says_so_honestly_and_is_polled_rarely(visitor, client, services, catalog):
    services.lanes.pause(sku_lane(MOUSE))
    services.redis.hset(lane_key(sku_lane(MOUSE), "stats"), "rate", "50.0")  # a fast line, but paused
    wait_path = visitor.add(MOUSE)
    words = text_of(visitor.page(wait_path))
    assert "Antrean sedang dijeda: posisi Anda tetap kami simpan" in words
    assert "Perkiraan waktu tunggu" not in words
    status = client.get(wait_path.split("?")[0] + "/status").get_json()
    assert status["paused"] is True
    assert status["estimate_text"] == "Antrean sedang dijeda: posisi Anda tetap kami simpan"
    assert status["poll_after_ms"] >= 5000


# --- flash prices and units ------------------------------------------------------------------------


@pytest.fixture
def boxed_flash(make_product) -> str:
    """Sold by the piece and by the box of 12, at 75,000 instead of 100,000 a piece."""
    return make_product(
        "BOX-FLASH-1",
        on_hand=30,
        max_per_cart=24,
        price=75_000,
        normal_price=100_000,
        uoms=[{"uom": "box", "conversion": 12}],
    )


def test_a_flash_price_shows_the_normal_price_struck_through_and_the_discount(visitor, boxed_flash):
    for page in (visitor.page("/"), visitor.page(f"/p/{boxed_flash}")):
        assert re.search(r'<s class="price-normal"[^>]*>Rp\s?100\.000</s>', page)
        assert "-25%" in page


def test_the_product_page_offers_each_unit_with_its_size(visitor, boxed_flash):
    page = visitor.page(f"/p/{boxed_flash}")
    assert '<select id="uom" name="uom">' in page
    assert ">box (12 pcs)<" in page


def test_a_cart_line_in_boxes_shows_the_normal_price_and_the_unit_as_entered(visitor, drain, boxed_flash):
    response = visitor.post(f"/p/{boxed_flash}", {"qty": "1", "uom": "box"}, from_page=f"/p/{boxed_flash}")
    assert response.status_code == 303
    assert drain() == 1

    cart = text_of(visitor.page("/cart"))
    assert "Rp 75.000 Rp 100.000 -25% · 1 box = 12 pcs" in cart
    assert "Rp 900.000" in cart  # 12 pieces at the flash price
