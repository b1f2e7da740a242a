"""Pure rules of place autocomplete: normalizing, terms, which places a listing lists, ranking,
and when an availability update has to extend the index."""
from __future__ import annotations

from datetime import date

import pytest

from chalicelib.inventory.domain import DaySetting
from chalicelib.inventory.place_index import EXPIRES_AFTER_DAYS, expiry, on_sale_until, pick
from chalicelib.inventory.places import (AIRPORTS, CITIES, MAX_TERM_BYTES, Place, describe, fits, normalize,
                                         places_of_listing, rank, terms)

TODAY = "2027-03-01"


@pytest.mark.parametrize("text, expected", [
    ("São Paulo", "sao paulo"),
    ("SÃO", "sao"),
    ("  Lisb ", "lisb"),
    ("Rio-de-Janeiro", "rio de janeiro"),  # punctuation separates words
    ("Chicago O'Hare", "chicago o hare"),
    ("Baltimore/Washington", "baltimore washington"),
    ("Zürich   Flughafen", "zurich flughafen"),
    ("Øresund", "oresund"),  # a letter of its own, not an accented o
    ("Straße", "strasse"),  # casefold, not lower
    ("ＰＡＲ", "par"),  # full-width letters (NFKD)
    ("東京", "東京"),  # letters of any script stay
    ("#%!", ""),
])
def test_normalize_folds_case_accents_and_punctuation(text, expected):
    assert normalize(text) == expected


def test_a_city_is_found_by_its_code_and_its_name_from_each_word():
    assert terms(describe("SAO")) == ["sao", "sao paulo", "paulo"]
    assert terms(describe("NYC")) == ["nyc", "new york", "york"]


def test_an_airport_is_found_by_its_code_its_name_and_its_citys_name():
    cdg = describe("CDG")
    assert (cdg.type, cdg.name, cdg.city, cdg.country) == ("airport", "Paris Charles de Gaulle", "Paris", "FR")
    found = terms(cdg)
    assert found[0] == "cdg"
    assert {"paris charles de gaulle", "charles de gaulle", "gaulle", "paris"} <= set(found)
    assert "de gaulle" not in found  # too short a word to start a term


def test_a_code_that_is_both_city_and_airport_is_the_city():
    assert describe("LIS").type == "city"
    assert describe("SHA").name == "Shanghai"


def test_an_unknown_code_is_a_place_named_by_its_code():
    place = describe("XQZ")
    assert (place.code, place.name, place.city, place.country) == ("XQZ", "XQZ", "XQZ", None)
    assert terms(place) == ["xqz"]


def test_every_airport_of_a_city_has_a_name():
    assert {a for city in CITIES.values() for a in city.airports} <= set(AIRPORTS)


def test_a_flight_lists_its_airports_and_their_cities():
    codes = [p.code for p in places_of_listing("flight", origin="CDG", destination="JFK")]
    assert codes == ["CDG", "PAR", "JFK", "NYC"]
    # An airport whose code is its city's is one place; an unknown airport has no city to add.
    assert [p.code for p in places_of_listing("flight", origin="LIS", destination="XQZ")] == ["LIS", "XQZ"]


def test_a_hotel_lists_its_city_only():
    assert [p.code for p in places_of_listing("hotel", city="PAR")] == ["PAR"]


def test_ranking_puts_the_exact_code_first_then_cities_then_names():
    names = sorted([describe("ORY"), describe("CDG"), describe("PAR"), describe("BVA")],
                   key=lambda p: rank("par", p))
    assert [p.code for p in names] == ["PAR", "BVA", "CDG", "ORY"]
    assert sorted([describe("PAR"), describe("CDG")], key=lambda p: rank("cdg", p))[0].code == "CDG"


def entry(code, **until):
    return describe(code), until


def test_pick_shows_each_place_once_with_its_latest_dates():
    found = pick([entry("PAR", hotel="2027-03-05"), entry("PAR", hotel="2027-02-01", flight="2027-04-01"),
                  entry("CDG", flight="2027-04-01")], "par", TODAY, 10)
    assert [(f.place.code, f.kinds) for f in found] == [("PAR", ("flight", "hotel")), ("CDG", ("flight",))]


def test_pick_drops_past_kinds_and_places_with_none_left():
    found = pick([entry("PAR", hotel="2027-02-28", event=TODAY), entry("CDG", flight="2027-02-01")],
                 "par", TODAY, 10)
    assert [(f.place.code, f.kinds) for f in found] == [("PAR", ("event",))]


def test_pick_returns_at_most_limit_places():
    entries = [entry(code, hotel="2027-05-01") for code in ("LHR", "LGW", "LON", "STN")]
    assert [f.place.code for f in pick(entries, "lon", TODAY, 2)] == ["LON", "LGW"]


def on_sale(*days_capacities):
    return {date(2027, 3, d): DaySetting(capacity=c, price=100) for d, c in days_capacities}


def test_an_update_extends_to_its_latest_date_with_units():
    assert on_sale_until(on_sale((1, 5), (9, 5), (12, 0))) == date(2027, 3, 9)


def test_an_update_offering_nothing_extends_nothing():
    assert on_sale_until(on_sale((1, 0), (2, 0))) is None


def test_an_update_of_dates_already_on_sale_still_names_its_latest_date():
    # Whatever the stored calendar says: the update may be the retry of one that crashed before
    # the index was written, so the index itself decides what is behind.
    assert on_sale_until(on_sale((1, 5), (9, 5))) == date(2027, 3, 9)


def test_an_entry_expires_days_after_its_date_at_midnight_utc():
    assert expiry("2027-03-01") == 1803859200 + EXPIRES_AFTER_DAYS * 86400  # 2027-03-01T00:00Z
    assert expiry("2027-03-02") > expiry("2027-03-01")


def test_no_term_is_longer_than_a_key_can_hold():
    huge = Place("XQZ", "city", "\ufdfa" * 50, "\ufdfa" * 50, None)
    assert len(normalize(huge.name).encode()) > 1024
    found = terms(huge)
    assert found[0] == "xqz" and normalize(huge.name) not in found  # too long to be a term
    assert found[1:] and all(fits(t) for t in found)  # its later words still find it
    assert all(fits(t) for code in CITIES for t in terms(describe(code)))
    assert fits("a" * MAX_TERM_BYTES) and not fits("a" * (MAX_TERM_BYTES + 1))
    assert not fits("é" * (MAX_TERM_BYTES // 2 + 1))  # bytes, not characters
