"""What the browser tests share: one Debian Chromium per test process, pages on the live app, helpers.

The app is served over real HTTP (``tests/http_server.serve``) and its requests are applied by a
real lane consumer. Screenshots go to ``test-artifacts/screenshots/``; the run prints that folder in
its summary. Without /usr/bin/chromium (``devtools/ensure_packages.sh chromium`` installs it as root) the
tests that import this are skipped, saying why.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import BASE_DIR
from shop.domain.demo import seed_demo_catalog
from tests.http_server import serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = BASE_DIR / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE_SCREEN = {"width": 360, "height": 780}
MOUSE = "MOUSE-WL-01"
SHOES = "FLASH-SHOE-02"

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"browser tests skipped: Debian's chromium is not installed at {CHROMIUM} "
        "(as root, `bash devtools/ensure_packages.sh chromium` installs it)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev)")
expect = sync_api.expect


class ScreenshotFolder:
    """Says where the screenshots are at the end of the run (a pytest plugin registered on first use)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def pytest_terminal_summary(self, terminalreporter) -> None:
        shots = sorted(p.name for p in self.folder.glob("*.png"))
        if shots:
            terminalreporter.write_sep("-", "shopper page screenshots")
            terminalreporter.write_line(f"{len(shots)} screenshots in {self.folder}: {', '.join(shots)}")


@pytest.fixture(scope="session")
def screenshots(pytestconfig) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if not pytestconfig.pluginmanager.has_plugin("shop-screenshots"):
        pytestconfig.pluginmanager.register(ScreenshotFolder(SCREENSHOTS), "shop-screenshots")
    return SCREENSHOTS


_BROWSER: list = []


@pytest.fixture(scope="session")
def browser(pytestconfig):
    """Launch Chromium once per test process, whichever browser test module asks first."""
    if not _BROWSER:
        playwright = sync_api.sync_playwright().start()
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        _BROWSER.append(chromium)

        def close() -> None:
            chromium.close()
            playwright.stop()
            _BROWSER.clear()

        pytestconfig.add_cleanup(close)
    return _BROWSER[0]


@pytest.fixture
def live(app, services) -> Iterator[str]:
    """Serve the app with the demo catalog over real HTTP; yield its base URL."""
    with services.db.writing() as session:
        seed_demo_catalog(session)
    with serve(app) as host:
        yield f"http://{host}"


@pytest.fixture
def new_page(browser, live):
    """Open pages in fresh browser contexts (own cookies): English on a desktop unless told otherwise."""
    contexts = []

    def open_page(locale: str = "en-US", viewport: dict | None = None, javascript: bool = True):
        context = browser.new_context(
            base_url=live,
            locale=locale,
            viewport=viewport or DESKTOP,
            java_script_enabled=javascript,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.js_errors = errors
        return page

    yield open_page
    for context in contexts:
        context.close()


# The fixtures above, for a test module to bind in one line (pytest finds a module's fixtures by name):
# ``browser, live, new_page, screenshots = support.FIXTURES``. One browser per test process.
FIXTURES = (browser, live, new_page, screenshots)


def shoot(page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def seconds_on(countdown) -> int:
    minutes, seconds = countdown.inner_text().strip().split(":")[-2:]
    return int(minutes) * 60 + int(seconds)


def add_to_cart(page, sku: str, qty: int = 1) -> None:
    page.goto(f"/p/{sku}")
    page.get_by_label(re.compile("Quantity|Jumlah")).select_option(str(qty))
    page.get_by_role("button", name=re.compile("Add to cart|Tambah ke keranjang")).click()
    page.wait_for_url(re.compile(r"/wait/"))


def checkout_to_order_page(page, drain) -> None:
    page.goto("/cart")
    page.get_by_role("button", name="Checkout").click()
    page.wait_for_url(re.compile(r"/wait/"))
    assert drain() == 1
    page.wait_for_url(re.compile(r"/orders/ord_"))
    expect(page.get_by_role("heading", name="Complete your payment")).to_be_visible()
