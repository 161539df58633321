"""The shopper pages' gettext catalogues: complete in Indonesian, in step with the sources, compiled.

No Redis and no database: these read the ``.po``/``.mo`` files and extract the messages from the
Python and Jinja sources the way ``make messages`` does (``babel.cfg``).
"""

from __future__ import annotations

import io
import re

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from config import BASE_DIR
from shop.web.i18n import LANGUAGES, TRANSLATIONS

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def catalogue(lang: str) -> Catalog:
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=lang)


def messages(catalog: Catalog) -> dict[tuple[str | None, str], object]:
    """The catalogue's messages by (context, msgid), without its header."""
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}


def extracted() -> set[tuple[str | None, str]]:
    """The messages the sources use, extracted with babel.cfg as ``make messages`` does."""
    with (BASE_DIR / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = extract_from_dir(BASE_DIR, method_map, options_map, keywords=DEFAULT_KEYWORDS)
    return {(context, msgid if isinstance(msgid, str) else msgid[0]) for _f, _l, msgid, _c, context in found}


def test_every_message_has_an_indonesian_translation_that_is_not_fuzzy():
    untranslated = [
        key
        for key, message in messages(catalogue("id")).items()
        if message.fuzzy or not all(message.string if isinstance(message.string, tuple) else [message.string])
    ]
    assert untranslated == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_catalogue_holds_exactly_the_messages_the_sources_use(lang):
    assert set(messages(catalogue(lang))) == extracted()


def test_every_string_exists_in_both_languages_with_the_same_placeholders():
    english, indonesian = messages(catalogue("en")), messages(catalogue("id"))
    assert english.keys() == indonesian.keys()
    for key, message in indonesian.items():
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        wanted = set(PLACEHOLDER.findall(ids[0]))
        assert all(set(PLACEHOLDER.findall(text)) == wanted for text in ids + forms), key


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_committed_mo_files_are_compiled_from_their_po_files(lang):
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(lang))
    committed = (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo").read_bytes()
    assert compiled.getvalue() == committed, f"run `make translations` and commit {lang}'s messages.mo"
