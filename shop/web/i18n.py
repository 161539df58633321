"""The shopper pages' language, and how money, times and waits are written (Flask-Babel).

The words themselves live in gettext catalogues, ``shop/web/translations/<lang>/LC_MESSAGES/
messages.po`` (English source texts as msgids, Indonesian translations), extracted from the Python
and Jinja sources with ``make messages`` (``babel.cfg``). The language comes from the ``lang``
cookie (the switch in the header), else from Accept-Language, else Indonesian: the shoppers are
Indonesian. Times are shown in Jakarta's zone (WIB).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

from babel import Locale
from babel.numbers import format_currency
from flask import Flask, request
from flask_babel import format_date, format_time, get_locale, ngettext
from flask_babel import gettext as _

from shop.web.extensions import babel

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
LANG_COOKIE = "lang"
# Each language's own name, as its speakers look for it in the switch (never translated).
LANGUAGE_NAMES = {"id": "Bahasa Indonesia", "en": "English"}
# Jakarta keeps UTC+7 all year (no daylight saving): deadlines are shown in WIB.
TIMEZONE = "Asia/Jakarta"
# The language the catalog's product names and descriptions are written in: on pages in another
# language they carry lang="en", so screen readers pronounce them as English.
CATALOG_LANGUAGE = "en"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# Rupiah are written the Indonesian way on every page ("Rp 1.250.000"): the shop sells in Indonesia
# and prices have no fractional part (CLDR's cash digits for IDR are 0).
RUPIAH_LOCALE = "id_ID"
RUPIAH_PATTERN = "¤ #,##0"


def pick_language(cookie: str | None, accept_languages: Any) -> str:
    """Choose the shopper's language: the header switch's cookie, else Accept-Language, else Indonesian."""
    if cookie in LANGUAGES:
        return cookie  # type: ignore[return-value]
    # Werkzeug's best_match also matches "en-US" to "en" and "id-ID" to "id".
    best = accept_languages.best_match(LANGUAGES) if accept_languages else None
    return best or DEFAULT_LANGUAGE


def request_language() -> str:
    """Flask-Babel's locale selector: the language of the request being served."""
    return pick_language(request.cookies.get(LANG_COOKIE), request.accept_languages)


def language() -> str:
    """Return the shopper's language for this request (chosen once, then kept by Flask-Babel)."""
    return str(get_locale() or DEFAULT_LANGUAGE)


def init_i18n(app: Flask) -> None:
    """Bind Flask-Babel (catalogues, Jakarta's zone) and give templates the formatting helpers."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", TIMEZONE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=request_language)
    for helper in (rupiah, clock, wib_time, wib_moment):
        app.jinja_env.globals[helper.__name__] = helper
    app.jinja_env.globals.update(
        languages=LANGUAGES, language_names=LANGUAGE_NAMES, catalog_lang=CATALOG_LANGUAGE
    )


def rupiah(amount: int) -> str:
    """Write whole Rupiah the Indonesian way: Rp 1.250.000."""
    return format_currency(amount, "IDR", RUPIAH_PATTERN, locale=RUPIAH_LOCALE, currency_digits=False)


def duration(seconds: float) -> str:
    """Say roughly how long a wait is: whole seconds under a minute, whole minutes (rounded up) above."""
    whole = max(1, math.ceil(seconds))
    if whole < 60:
        return ngettext("%(num)d second", "%(num)d seconds", whole)
    return ngettext("%(num)d minute", "%(num)d minutes", math.ceil(whole / 60))


def duration_range(low: float, high: float) -> str:
    """Say a wait estimate as a range: "20–40 s", or whole minutes from a minute up ("2–4 min")."""
    low, high = max(1, math.floor(low)), max(1, math.ceil(high))
    if high < 60:
        return duration(low) if low >= high else _("%(low)s–%(high)s s", low=low, high=high)
    low_min, high_min = max(1, low // 60), math.ceil(high / 60)
    if low_min >= high_min:
        return duration(high)
    return _("%(low)s–%(high)s min", low=low_min, high=high_min)


def clock(seconds: int) -> str:
    """Write a countdown as m:ss (or h:mm:ss), as the page's script keeps writing it."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def wib_time(moment: datetime) -> str:
    """Show a deadline as Jakarta wall-clock time, the locale's short way (15.05, 3:05 PM)."""
    return format_time(moment, "short")


def wib_moment(iso: str) -> str:
    """Show a moment that may be days away (a sale's start) as the locale's date and time in WIB."""
    moment = datetime.fromisoformat(iso)
    locale = get_locale() or Locale.parse(DEFAULT_LANGUAGE)
    # The locale's way of joining a date ({1}) and a time ({0}): "11 Nov 2031 12.00" in Indonesian.
    joined = str(locale.datetime_formats["medium"]).replace("'", "")
    written = joined.replace("{1}", format_date(moment, "medium")).replace(
        "{0}", format_time(moment, "short")
    )
    return f"{written} WIB"
