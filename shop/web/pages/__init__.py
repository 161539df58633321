"""The shopper pages: storefront, product, waiting room, cart, order and payment, server-rendered.

Views are thin: they read the cart from its signed HttpOnly cookie, parse the form, call the same
catalog, admission and order functions as the JSON API, and render a template. Every form carries a
CSRF token (``shop.web.extensions.csrf``). ``/cart`` and ``/orders/<id>`` are shared with the API:
this blueprint is registered first and answers API clients there with the API's own JSON answers
(``shop.web.helpers``). One module per part of the shop; ``shell`` holds what they share.
"""

from __future__ import annotations

from shop.web.pages import cart, language, orders, storefront, waiting_room
from shop.web.pages.shell import bp, browser_error_page

__all__ = ["bp", "browser_error_page", "cart", "language", "orders", "storefront", "waiting_room"]
