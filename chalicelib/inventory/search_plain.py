"""GET /search without pydantic, for the plain request: its query string and its page.

Search is what most cold starts answer, and pydantic (importing it, building the route's
models) was the largest part of what such a start paid beyond the floor every Python function
pays (tools.bench_cold). Both functions here take only the plain case and answer None for
anything else, and the route then goes through the pydantic models as before
(schemas.SearchQuery, schemas.SearchPage): a parameter with spaces, a spelling pydantic would
convert ("01", " 2", "par "), a value out of range, an unknown parameter, a result field not
exactly of its declared type, all get the models' own answer, error messages included. So these
functions decide nothing the models would decide differently; tests/unit/test_search_plain.py
holds the two paths to the same answers.

No pydantic, no regular expressions, no dataclasses: this module loads on the cold path.
"""
from __future__ import annotations

import math
from datetime import date
from typing import Any, Mapping

from ..core.pagination import LIMIT_DEFAULT, LIMIT_MAX, MAX_CURSOR_LENGTH
from ..core.plain import NotPlain, iso_date
from .domain import KINDS, currency_error, rating_average
from .search_rules import MAX_PRICE_TOTAL, MAX_QUANTITY, SORTS

# schemas.SearchQuery's fields and defaults, in its order.
FIELDS = ("kind", "city", "origin", "destination", "date", "check_in", "check_out", "quantity", "max_price",
          "currency", "sort", "limit", "cursor")
_DEFAULTS = {"quantity": 1, "sort": "price", "limit": LIMIT_DEFAULT}
_CURSOR_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
# SearchResult's optional fields, in its order (exclude_none leaves out the ones that are None).
_PLACES = ("city", "origin", "destination")


class SearchQueryValues:
    """The values schemas.SearchQuery would hold for the same query string."""

    __slots__ = FIELDS

    def __init__(self, values: Mapping[str, Any]) -> None:
        for name in FIELDS:
            setattr(self, name, values.get(name, _DEFAULTS.get(name)))

    def __repr__(self) -> str:
        return "SearchQueryValues(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in FIELDS) + ")"


def _kind(value: str) -> str:
    if value not in KINDS:
        raise NotPlain
    return value


def _place(value: str) -> str:
    if len(value) != 3 or not (value.isascii() and value.isalpha()):
        raise NotPlain
    return value.upper()


def _integer(value: str, least: int, most: int) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > len(str(most)):
        raise NotPlain
    if value[0] == "0" and value != "0":  # "01": pydantic's to judge
        raise NotPlain
    number = int(value)
    if not least <= number <= most:
        raise NotPlain
    return number


def _currency(value: str) -> str:
    code = _place(value)
    if currency_error(code):
        raise NotPlain
    return code


def _sort(value: str) -> str:
    if value not in SORTS:
        raise NotPlain
    return value


def _cursor(value: str) -> str:
    if not 1 <= len(value) <= MAX_CURSOR_LENGTH or not _CURSOR_CHARACTERS.issuperset(value):
        raise NotPlain
    return value


_PARSERS: dict[str, Any] = {
    "kind": _kind, "city": _place, "origin": _place, "destination": _place,
    "date": iso_date, "check_in": iso_date, "check_out": iso_date,
    "quantity": lambda v: _integer(v, 1, MAX_QUANTITY),
    "max_price": lambda v: _integer(v, 0, MAX_PRICE_TOTAL),
    "currency": _currency, "sort": _sort,
    "limit": lambda v: _integer(v, 1, LIMIT_MAX),
    "cursor": _cursor,
}


def parse_query(params: Mapping[str, Any]) -> SearchQueryValues | None:
    """The query string as schemas.SearchQuery would parse it, or None: let the model judge."""
    if "kind" not in params:
        return None
    values: dict[str, Any] = {}
    try:
        for name, raw in params.items():
            parse = _PARSERS.get(name)
            if parse is None or type(raw) is not str:
                return None
            values[name] = parse(raw)
    except NotPlain:
        return None
    return SearchQueryValues(values)


# --- the page -------------------------------------------------------------------------------

def _text(value: Any) -> str:
    if type(value) is not str:
        raise NotPlain
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _whole(value: Any) -> int:
    if type(value) is not int:
        raise NotPlain
    return value


def _result(offer: Any, dates: dict[str, str]) -> dict[str, Any]:
    """schemas.SearchResult(...).model_dump(mode="json", exclude_none=True), as shapes.search_result
    builds it."""
    listing = offer.listing
    result: dict[str, Any] = {"listing_id": _text(listing.listing_id), "kind": _kind(_text(listing.kind)),
                              "title": _text(listing.title), "vendor_id": _text(listing.vendor_id)}
    for name in _PLACES:
        value = _optional_text(getattr(listing, name))
        if value is not None:
            result[name] = value
    result.update(dates)
    result["available"] = _whole(offer.available)
    amount, currency = _whole(offer.price_total), _text(offer.currency)
    if amount < 0 or len(currency) != 3 or not (currency.isascii() and currency.isalpha() and currency.isupper()):
        raise NotPlain
    result["price_total"] = {"amount": amount, "currency": currency}
    count = int(listing.rating_count or 0)
    average = rating_average(float(listing.rating_sum or 0), count)
    if average is None:
        result["rating"] = {"count": count, "average": None}  # Rating keeps a null average, last
    elif type(average) is float and math.isfinite(average):
        result["rating"] = {"average": average, "count": count}
    else:
        raise NotPlain
    return result


def search_page(offers: list[Any], kind: str, check_in: date | None, check_out: date | None,
                day: date | None, next_cursor: str | None) -> dict[str, Any] | None:
    """schemas.SearchPage(...).model_dump(mode="json", exclude_none=True) for the offers, or None
    when a value is not exactly of its declared type: let the models judge (and shape) it."""
    if kind == "hotel":
        if check_in is None or check_out is None:
            return None
        dates = {"check_in": check_in.isoformat(), "check_out": check_out.isoformat()}
    else:
        if day is None:
            return None
        dates = {"date": day.isoformat()}
    try:
        results = [_result(offer, dates) for offer in offers]
        if next_cursor is None:
            return {"results": results, "next_cursor": None}  # Page keeps a null next_cursor, last
        return {"next_cursor": _text(next_cursor), "results": results}
    except NotPlain:
        return None
