"""GET /search's plain path (inventory.search_plain) answers exactly what the pydantic models
answer, or steps aside. No AWS.

The plain path exists for cold starts (it never imports pydantic); the models stay the contract.
So: every query string the plain parser takes, SearchQuery takes to the same values; every page
it shapes is byte for byte the JSON of SearchPage; and what it does not take (odd spellings,
values out of range, unknown parameters, results not exactly of their declared types) it hands
to the models (None)."""
from __future__ import annotations

import json
import typing
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError as PydanticValidationError

from chalicelib.core.errors import ValidationError
from chalicelib.inventory import schemas, search, search_plain, shapes
from chalicelib.inventory.search_rules import MAX_PRICE_TOTAL, MAX_QUANTITY, Offer, SearchParams

DAY = (date.today() + timedelta(days=20)).isoformat()
LATER = (date.today() + timedelta(days=22)).isoformat()


def model_values(params: dict[str, str]):
    """SearchQuery's values for a query string, or None when it refuses it."""
    try:
        model = schemas.SearchQuery.model_validate(params)
    except (PydanticValidationError, ValidationError):
        return None
    return {name: getattr(model, name) for name in search_plain.FIELDS}


def plain_values(params: dict[str, str]):
    parsed = search_plain.parse_query(params)
    return None if parsed is None else {name: getattr(parsed, name) for name in search_plain.FIELDS}


def test_fields_are_the_models():
    assert tuple(schemas.SearchQuery.model_fields) == search_plain.FIELDS
    assert set(typing.get_args(schemas.Kind)) == set(search_plain.KINDS)
    defaults = {n: f.default for n, f in schemas.SearchQuery.model_fields.items() if not f.is_required()}
    assert defaults == {n: getattr(search_plain.SearchQueryValues({}), n) for n in defaults}


@pytest.mark.parametrize("params", [
    {"kind": "hotel", "city": "PAR", "check_in": DAY, "check_out": LATER},
    {"kind": "hotel", "city": "par", "check_in": DAY, "check_out": LATER, "quantity": "3", "limit": "100",
     "sort": "rating", "currency": "eur", "max_price": "0"},
    {"kind": "flight", "origin": "CDG", "destination": "LIS", "date": DAY, "max_price": str(MAX_PRICE_TOTAL),
     "quantity": str(MAX_QUANTITY), "limit": "1", "cursor": "eyJ0IjoxfQ.abc-_9"},
    {"kind": "event", "city": "LIS", "date": DAY, "sort": "price"},
    {"kind": "service", "city": "LON", "date": "2020-01-01"},  # in the past: the service says so
    {"kind": "flight", "city": "PAR"},  # the rules of a kind are the service's, not the schema's
])
def test_plain_query_strings_parse_as_the_model_parses_them(params):
    assert plain_values(params) is not None
    assert plain_values(params) == model_values(params)


@pytest.mark.parametrize("params", [
    {},
    {"city": "PAR"},
    {"kind": "Hotel", "city": "PAR"},
    {"kind": " hotel", "city": "PAR"},
    {"kind": "hotel", "city": " PAR"},
    {"kind": "hotel", "city": "PA"},
    {"kind": "hotel", "city": "PÄR"},
    {"kind": "hotel", "city": "P4R"},
    {"kind": "hotel", "city": ""},
    {"kind": "hotel", "check_in": "2026-1-01"},
    {"kind": "hotel", "check_in": "2026-02-30"},
    {"kind": "hotel", "check_in": "20260201"},
    {"kind": "hotel", "check_in": "2026-02-01T00:00"},
    {"kind": "hotel", "check_in": "２０２６-02-01"},
    {"kind": "hotel", "quantity": "0"},
    {"kind": "hotel", "quantity": "01"},
    {"kind": "hotel", "quantity": "+1"},
    {"kind": "hotel", "quantity": "1.0"},
    {"kind": "hotel", "quantity": " 1"},
    {"kind": "hotel", "quantity": "1_0"},
    {"kind": "hotel", "quantity": str(MAX_QUANTITY + 1)},
    {"kind": "hotel", "quantity": "٣"},
    {"kind": "hotel", "max_price": "-1"},
    {"kind": "hotel", "max_price": str(MAX_PRICE_TOTAL + 1)},
    {"kind": "hotel", "max_price": "9" * 40},
    {"kind": "hotel", "limit": "101"},
    {"kind": "hotel", "limit": "0"},
    {"kind": "hotel", "currency": "XXX"},
    {"kind": "hotel", "currency": "EU"},
    {"kind": "hotel", "sort": "Price"},
    {"kind": "hotel", "cursor": ""},
    {"kind": "hotel", "cursor": " abc"},
    {"kind": "hotel", "cursor": "a" * 4097},
    {"kind": "hotel", "cursor": "abc+/="},
    {"kind": "hotel", "page": "2"},
    {"kind": "hotel", "city": None},
])
def test_what_the_plain_parser_does_not_take_goes_to_the_model(params):
    assert search_plain.parse_query(params) is None


_ODD = st.sampled_from(["", " ", "0", "00", "1", "01", "7", "100", "101", "1000", "1001", "-1", "+2", "1.5", "1e3",
                        " 5", "5 ", "x", "PAR", "par", " par", "PÅR", "EUR", "eur", "XXX", "hotel", "flight",
                        "event", "service", "price", "rating", DAY, LATER, "2026-02-29", "2028-02-29", "2026-13-01",
                        "abc.def", "a b", str(MAX_PRICE_TOTAL), str(MAX_PRICE_TOTAL + 1), "٣", "\t1"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(search_plain.FIELDS + ("other",)), _ODD, max_size=6),
       st.sampled_from(["hotel", "flight", "event", "service", "Hotel", None]))
def test_any_query_string_the_plain_parser_takes_the_model_takes_alike(params, kind):
    if kind is not None:
        params = {**params, "kind": kind}
    plain = plain_values(params)
    if plain is not None:
        assert plain == model_values(params)


# --- the page -----------------------------------------------------------------------------------

def _listing(**fields):
    """What the search reads of a listing, and nothing else: shaping a result must need no more."""
    base = dict(listing_id="lst_a", kind="hotel", title="Room", vendor_id="ven_a", city="PAR", origin=None,
                destination=None, rating_sum=0, rating_count=0)
    assert set(base) == set(search.LISTING_ATTRIBUTES)
    return SimpleNamespace(**{**base, **fields})


def _offer(listing, **fields):
    base = dict(listing_id=listing.listing_id, available=3, unit_total=9000, currency="EUR", quantity=2)
    offer = Offer(**{**base, **fields})
    offer.listing = listing
    return offer


HOTEL = SearchParams(kind="hotel", city="PAR", check_in=date(2027, 3, 1), check_out=date(2027, 3, 3))
FLIGHT = SearchParams(kind="flight", origin="CDG", destination="LIS", date=date(2027, 3, 1))


def model_json(offers, params, next_cursor):
    page = schemas.SearchPage(results=[shapes.search_result(o, params) for o in offers], next_cursor=next_cursor)
    return json.dumps(page.model_dump(mode="json", exclude_none=True))


def plain_page(offers, params, next_cursor):
    return search_plain.search_page(offers, params.kind, params.check_in, params.check_out, params.date,
                                    next_cursor)


@pytest.mark.parametrize("params, offers", [
    (HOTEL, []),
    (HOTEL, [_offer(_listing())]),
    (HOTEL, [_offer(_listing(rating_sum=9, rating_count=2)), _offer(_listing(listing_id="lst_b", title="Été"))]),
    (HOTEL, [_offer(_listing(rating_sum=13, rating_count=3), available=0, unit_total=0)]),
    (FLIGHT, [_offer(_listing(kind="flight", city=None, origin="CDG", destination="LIS"), currency="USD")]),
])
@pytest.mark.parametrize("next_cursor", [None, "eyJ0IjoxfQ.abc"])
def test_a_plain_page_is_the_models_json(params, offers, next_cursor):
    page = plain_page(offers, params, next_cursor)
    assert page is not None
    assert json.dumps(page) == model_json(offers, params, next_cursor)


class _Text(str):
    pass


@pytest.mark.parametrize("listing, fields", [
    (_listing(kind="cruise"), {}),
    (_listing(title=None), {}),
    (_listing(title=_Text("Room")), {}),
    (_listing(city=7), {}),
    (_listing(), {"available": 2.0}),
    (_listing(), {"available": True}),
    (_listing(), {"currency": "eur"}),
    (_listing(), {"unit_total": -1}),
])
def test_a_result_not_exactly_of_its_type_goes_to_the_models(listing, fields):
    assert plain_page([_offer(listing, **fields)], HOTEL, None) is None
