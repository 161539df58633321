"""Static files and compression: fingerprinted addresses cached for a year, text answers compressed."""

from __future__ import annotations

import gzip
import re

import brotli
import pytest

from config import BASE_DIR
from shop.web.assets import IMMUTABLE, minify_css

HTML = {"Accept": "text/html"}


def static_address(client, name: str) -> str:
    html = client.get("/", headers=HTML).get_data(as_text=True)
    return re.search(rf'"(/static/{re.escape(name)}\?v=[0-9a-f]{{12}})"', html).group(1)


@pytest.mark.parametrize("name", ["shop.css", "shop.js", "favicon.svg"])
def test_pages_link_static_files_by_a_content_hash_that_is_cached_for_a_year(client, name):
    response = client.get(static_address(client, name))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == IMMUTABLE == "public, max-age=31536000, immutable"


def test_a_static_file_without_the_current_hash_is_revalidated_every_time(client):
    for address in ("/static/shop.css", "/static/shop.css?v=000000000000"):
        response = client.get(address)
        assert (response.status_code, response.headers["Cache-Control"]) == (200, "no-cache")
        assert response.headers["ETag"]


def test_the_stylesheet_is_served_minified(client):
    served = client.get(static_address(client, "shop.css")).get_data(as_text=True)
    source = (BASE_DIR / "static" / "shop.css").read_text()
    assert served == minify_css(source)
    assert len(served) < 0.8 * len(source)
    assert "/*" not in served and "\n" not in served
    assert ".line--expired .line-name a{color:var(--muted)}" in served  # the descendant space is kept


@pytest.mark.parametrize(
    ("accept", "encoding", "decode"),
    [("br, gzip", "br", brotli.decompress), ("gzip", "gzip", gzip.decompress)],
)
@pytest.mark.parametrize("path", ["/", "static:shop.css", "static:shop.js"])
def test_pages_css_and_js_are_compressed_for_clients_that_accept_it(client, path, accept, encoding, decode):
    address = static_address(client, path.split(":")[1]) if path.startswith("static:") else path
    plain = client.get(address, headers=HTML)
    packed = client.get(address, headers={**HTML, "Accept-Encoding": accept})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in packed.headers["Vary"]
    body = decode(packed.get_data())
    assert len(packed.get_data()) < len(body) / 2
    if path.startswith("static:"):
        assert body == plain.get_data()


def test_json_answers_are_left_uncompressed(client, make_product):
    for n in range(30):
        make_product(f"ITEM-{n:02d}", on_hand=5)
    response = client.get("/catalogs?limit=30", headers={"Accept-Encoding": "br, gzip"})
    assert response.is_json and len(response.get_data()) > 2000
    assert "Content-Encoding" not in response.headers
