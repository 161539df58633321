"""Catalog text search through each database's own engine: SQLite FTS5, PostgreSQL tsvector + GIN.

What a search means, on both databases alike: every word of the query (a run of letters and
digits) must begin a word of the product's name, description or category, ignoring case and
accents, so ``kaos`` finds "Kaos Polos", ``keyb`` finds "Keyboard" and ``ecran`` finds "Écran".
A query term that also holds other characters (``100%``, ``one_size``) must in addition appear
literally in the name or description; a term of punctuation only (``%``) is matched literally
alone. Results sort by relevance (name words weigh most) unless ``sortBy`` asks otherwise.

Migration 0009 builds the indexes: on SQLite an external-content FTS5 table ``products_fts`` over
the products' rowids (``unicode61 remove_diacritics 2``), kept in step by triggers that fire only
when name, description or category change, so the lanes' stock updates never touch it; on
PostgreSQL a ``search_vector`` column set by a trigger of the same kind, with a GIN index, and
``pg_trgm`` GIN indexes on ``lower(name)`` and ``lower(description)`` for the literal terms.
Neither object is in the models (``SEARCH_OBJECTS`` tells the schema comparison to skip them).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Double, Select, cast, column, func, literal_column, or_, table, text
from sqlalchemy.orm import Session

from shop.storage.models import Product

# Objects migration 0009 makes outside the models: the FTS5 table (and its shadow tables), the
# PostgreSQL column and its indexes.
SEARCH_OBJECTS = (
    "products_fts",
    "search_vector",
    "ix_products_search_vector",
    "ix_products_name_trgm",
    "ix_products_description_trgm",
)
SQLITE_FTS_TABLE = "products_fts"
# bm25 weights of the indexed columns: name, description, category.
SQLITE_WEIGHTS = (10.0, 2.0, 1.0)
_WORD = re.compile(r"[^\W_]+")
_FTS = table(SQLITE_FTS_TABLE, column("rowid"))


@dataclass(frozen=True)
class SearchTerms:
    """A shopper's query split into indexable words and the literal texts that must also appear."""

    words: tuple[str, ...]
    literals: tuple[str, ...]

    @classmethod
    def parse(cls, query: str) -> SearchTerms:
        """Split on white space; keep each term's words, and the term itself if it has more."""
        words: list[str] = []
        literals: list[str] = []
        for term in unicodedata.normalize("NFC", query).split():
            term_words = [fold(w) for w in _WORD.findall(term)]
            words.extend(w for w in term_words if w and w not in words)
            if "".join(_WORD.findall(term)) != term:
                literals.append(term.lower())
        return cls(tuple(words), tuple(literals))


def fold(word: str) -> str:
    """Lower-case a word and drop its accents, as both engines' tokenizers do with indexed text."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def apply(stmt: Select[Any], session: Session, terms: SearchTerms) -> tuple[Select[Any], ColumnElement[Any]]:
    """Narrow a select over products to the search's matches; return it and their relevance."""
    stmt = stmt.where(*_literal_conditions(terms.literals))
    if not terms.words:
        return stmt, literal_column("0")
    if session.get_bind().dialect.name == "postgresql":
        # Words are letters and digits only, so they cannot carry tsquery operators.
        query = func.to_tsquery(literal_column("'simple'"), " & ".join(f"{w}:*" for w in terms.words))
        vector = literal_column("products.search_vector")
        # ts_rank is a real: as a double it comes back exactly, so a cursor can seek past it.
        return stmt.where(vector.op("@@")(query)), cast(func.ts_rank(vector, query), Double)
    # Each word a quoted prefix query: the quotes make any character plain text to FTS5.
    expression = " ".join('"' + w.replace('"', '""') + '"*' for w in terms.words)
    stmt = stmt.join(_FTS, _FTS.c.rowid == literal_column("products.rowid")).where(
        literal_column(SQLITE_FTS_TABLE).op("MATCH")(expression)
    )
    # bm25 is lower for a better match; name words weigh most.
    weights = ", ".join(str(w) for w in SQLITE_WEIGHTS)
    return stmt, -literal_column(f"bm25({SQLITE_FTS_TABLE}, {weights})")


def prefer_text_index(session: Session) -> None:
    """Make the text index the way in to a search for the rest of the session's transaction.

    PostgreSQL's planner prices matching a tsvector far below its cost, so for a common word it
    may read the whole table and match every row (80-120 ms at 100,000 products, seen in the
    bench) instead of the GIN index (about 10 ms). SQLite has nothing to set.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))


def also_where(stmt: Select[Any], session: Session, column: Any, value: Any) -> Select[Any]:
    """Narrow a search by ``column = value`` while the text index stays where the search starts.

    Without statistics SQLite's planner would start from the column's index and run the text
    match once per row. Compared as an expression (``column || ''``), the column offers no index,
    as SQLite's planner documentation advises. PostgreSQL weighs both indexes with its
    statistics and combines them.
    """
    if session.get_bind().dialect.name == "sqlite":
        return stmt.where(unindexed(column) == value)
    return stmt.where(column == value)


def unindexed(column: Any) -> ColumnElement[Any]:
    """The column as an expression (``column || ''``): the same values, none of its indexes."""
    return column.op("||")(literal_column("''"))


def _literal_conditions(literals: tuple[str, ...]) -> list[ColumnElement[bool]]:
    return [
        or_(
            func.lower(Product.name).like(f"%{_escape_like(lit)}%", escape="\\"),
            func.lower(Product.description).like(f"%{_escape_like(lit)}%", escape="\\"),
        )
        for lit in literals
    ]


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
