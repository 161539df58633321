"""Flask extensions, created unbound and bound to the app in ``create_app``."""

from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

# The client is the remote address; X-Forwarded-For counts only behind TRUSTED_PROXY_COUNT proxies
# (ProxyFix rewrites remote_addr), never by default.
limiter = Limiter(key_func=get_remote_address)

# CSRF tokens on the shopper pages' forms; the JSON API and the operator API are exempt (header tokens).
csrf = CSRFProtect()

# The shopper pages' translations and locale formatting (shop.web.i18n binds it with its selector).
babel = Babel()
