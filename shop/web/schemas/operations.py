"""What each JSON endpoint takes and gives, read from ``operations.toml``, for ``shop.web.openapi``.

The table is keyed by Flask endpoint: the generator walks the app's routes and looks each one up,
so a route without an entry fails the document's tests. It holds words and names only; the shapes
are the models it names, the same ones the views validate and serialise with.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shop.web.schemas import requests, responses

Schema = dict[str, Any]
TABLE = Path(__file__).with_name("operations.toml")


@dataclass(frozen=True)
class Answer:
    """A documented answer: what it means, its model (or a bare schema), its headers."""

    description: str
    model: type[BaseModel] | Schema
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One endpoint's documentation; ``{spelling}`` in ``id`` is the path's first segment."""

    id: str
    tag: str
    summary: str
    answers: dict[int, Answer]
    refusals: tuple[int, ...] = ()
    parameters: tuple[str, ...] = ()
    body: type[BaseModel] | None = None
    body_required: bool = True
    body_example: Schema | None = None
    description: str | None = None
    # Words that hold at one of the route's paths only (the pages answer browsers at /cart).
    path_descriptions: dict[str, str] = field(default_factory=dict)
    operator: bool = False


@cache
def _table() -> dict[str, Any]:
    with TABLE.open("rb") as file:
        return tomllib.load(file)


def error_responses() -> dict[int, tuple[str, str]]:
    """The refusals by status: (components/responses name, what it means)."""
    return {int(status): (r["name"], r["description"]) for status, r in _table()["refusals"].items()}


def _model(name: str, module: Any) -> type[BaseModel] | Schema:
    return {"type": "object"} if name == "object" else getattr(module, name)


def _answer(entry: str | dict[str, Any]) -> Answer:
    described = _table()["answers"][entry] if isinstance(entry, str) else entry
    return Answer(
        described["description"], _model(described["model"], responses), described.get("headers", {})
    )


def operations() -> dict[str, Operation]:
    """Every JSON endpoint's documentation, by Flask endpoint name."""
    documented = {}
    for endpoint, entry in _table()["endpoints"].items():
        entry = dict(entry)
        answers = {int(status): _answer(answer) for status, answer in entry.pop("answers").items()}
        body = entry.pop("body", None)
        documented[endpoint] = Operation(
            answers=answers,
            refusals=tuple(entry.pop("refusals", ())),
            parameters=tuple(entry.pop("parameters", ())),
            body=getattr(requests, body) if body else None,
            **entry,
        )
    return documented
