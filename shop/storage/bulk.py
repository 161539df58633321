"""Set-based writes: a batch's rows of one table in one statement whose text never changes.

A multi-row ``VALUES`` list (SQLAlchemy's insertmanyvalues) is a new statement for every batch: 200
holds are 3,200 bound parameters, which psycopg splits in Python and PostgreSQL parses and plans
again on every batch. That was a third of the consumer's time per hold on PostgreSQL (issue 21's
profile). Here the rows travel as one JSON array of arrays, unpacked by the database's own C code
(``json_each`` on SQLite, ``json_array_elements`` on PostgreSQL), so the statement is one
parameter long, compiled once per process and planned like any small query.

Values that are the same for every row of a batch (its moment, its SKU) are bound once, with their
column's type, so datetimes are stored exactly as every other statement stores them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, bindparam, text
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import DateTime

ROWS_PARAM = "bulk_rows"


@dataclass(frozen=True)
class BulkInsert:
    """An INSERT of many rows: ``columns`` vary per row (in that order), ``constants`` are bound once."""

    table: Table
    columns: tuple[str, ...]
    constants: tuple[str, ...] = ()
    returning: tuple[str, ...] = ()
    skip_conflicts: bool = False
    # The statement per dialect, compiled on first use.
    _compiled: dict[str, TextClause] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in self.columns:
            if isinstance(self.table.c[name].type, DateTime):
                # A per-row datetime would be stored as JSON wrote it, not as the column's type does.
                raise ValueError(f"{self.table.name}.{name}: bind datetimes as constants")

    def execute(
        self, session: Session | Connection, rows: Sequence[Sequence[Any]], **constants: Any
    ) -> list[Row[Any]]:
        """Insert ``rows`` (value lists in ``columns`` order) in one statement; return the RETURNING rows."""
        if not rows:
            return []
        connection = session.connection() if isinstance(session, Session) else session
        statement = self._statement(connection.dialect.name)
        params = {f"c_{name}": value for name, value in constants.items()}
        params[ROWS_PARAM] = json.dumps(rows, separators=(",", ":"))
        result = connection.execute(statement, params)
        return list(result) if self.returning else []

    def _statement(self, dialect: str) -> TextClause:
        statement = self._compiled.get(dialect)
        if statement is None:
            statement = self._compiled[dialect] = self._compile(dialect)
        return statement

    def _compile(self, dialect: str) -> TextClause:
        table = self.table
        names = ", ".join((*self.columns, *self.constants))
        if dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            pg = postgresql.dialect()
            values = [f"(r->>{i})::{table.c[name].type.compile(pg)}" for i, name in enumerate(self.columns)]
            source = f"json_array_elements(CAST(:{ROWS_PARAM} AS json)) WITH ORDINALITY AS j(r, n)"
            order = "n"
        else:
            # SQLite: ->> hands back integers as integers and JSON true/false as 1/0.
            values = [f"value->>{i}" for i in range(len(self.columns))]
            # WHERE true: without it SQLite would read ON CONFLICT as a join's ON clause.
            source = f"json_each(:{ROWS_PARAM}) WHERE true"
            order = "key"
        values += [f":c_{name}" for name in self.constants]
        sql = f"INSERT INTO {table.name} ({names}) SELECT {', '.join(values)} FROM {source} ORDER BY {order}"
        if self.skip_conflicts:
            sql += " ON CONFLICT DO NOTHING"
        if self.returning:
            sql += " RETURNING " + ", ".join(self.returning)
        statement = text(sql).bindparams(
            *(bindparam(f"c_{name}", type_=table.c[name].type) for name in self.constants)
        )
        if self.returning:
            statement = statement.columns(*(table.c[name] for name in self.returning))
        return statement
