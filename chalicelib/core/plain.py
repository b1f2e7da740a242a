"""Building blocks of the plain parsers (inventory.search_plain, booking.hold_plain).

A plain parser reads the usual request of a route without pydantic, which is most of a cold
start's cost beyond the floor (tools.bench_cold). It takes a value only when it is already in
the form the route's model would produce, and raises NotPlain for anything else: the route then
hands the whole request to the model, whose answer (errors included) is the contract. So these
helpers only ever narrow what is taken, never widen it.

No pydantic, no dataclasses: this module loads on the cold path.
"""
from __future__ import annotations

from datetime import date
from typing import Any


class NotPlain(Exception):
    """A value the models should judge."""


def iso_date(value: Any) -> date:
    """Exactly YYYY-MM-DD naming a real day, which every model date field takes to that day.
    Other spellings some fields also take (a timestamp, a datetime at midnight, spaces) are left
    to the model."""
    if (type(value) is not str or len(value) != 10 or value[4] != "-" or value[7] != "-"
            or not value.isascii() or not (value[:4] + value[5:7] + value[8:]).isdigit()):
        raise NotPlain
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise NotPlain from None


def trimmed_text(value: Any, shortest: int, longest: int) -> str:
    """Text a model with `str_strip_whitespace` would keep as it is, narrowed further to
    printable text (no control character, no lone surrogate, no whitespace but the space, which
    is never at either end) within the length bounds. A tab or a no-break space inside a name
    is fine to the model: such text simply goes to it."""
    if (type(value) is not str or not shortest <= len(value) <= longest
            or (value and (value[0].isspace() or value[-1].isspace())) or not value.isprintable()):
        raise NotPlain
    return value


def whole_number(value: Any, least: int, most: int) -> int:
    """A JSON integer (never a bool, a float or a string) within the bounds."""
    if type(value) is not int or not least <= value <= most:
        raise NotPlain
    return value


def only_keys(data: Any, allowed: frozenset[str], required: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A JSON object with no key the model would refuse as extra, and the required ones."""
    if type(data) is not dict or not allowed.issuperset(data) or not required.issubset(data):
        raise NotPlain
    return data
