"""Pure search rules and cursors: parameters per kind, partitions, budget, cursors."""
from __future__ import annotations

from datetime import date

import pytest

from chalicelib.core import pagination
from chalicelib.core.errors import ValidationError
from chalicelib.inventory.search_rules import SearchParams

TODAY = date(2027, 2, 20)
D = date(2027, 3, 1)


def hotel(**kw) -> SearchParams:
    return SearchParams(**{"kind": "hotel", "city": "PAR", "check_in": D, "check_out": date(2027, 3, 4), **kw})


def test_each_kind_needs_its_own_parameters():
    assert hotel().errors(TODAY) == {}
    assert SearchParams("flight", origin="CDG", destination="JFK", date=D).errors(TODAY) == {}
    assert SearchParams("event", city="LIS", date=D).errors(TODAY) == {}
    assert set(SearchParams("flight", date=D).errors(TODAY)) == {"origin", "destination"}
    assert set(SearchParams("service", city="LIS").errors(TODAY)) == {"date"}
    assert set(SearchParams("event", city="LIS", date=D, check_out=D).errors(TODAY)) == {"check_out"}
    assert set(SearchParams("cruise").errors(TODAY)) == {"kind"}


@pytest.mark.parametrize("params, field", [
    (hotel(check_out=D), "check_out"),
    (hotel(check_out=date(2027, 4, 1)), "check_out"),  # 31 nights
    (hotel(check_in=date(2027, 2, 19)), "check_in"),
    (hotel(quantity=0), "quantity"),
    (hotel(sort="newest"), "sort"),
    (SearchParams("event", city="LIS", date=date(2027, 2, 1)), "date"),
    (SearchParams("flight", origin="CDG", destination="CDG", date=D), "destination"),
])
def test_bad_searches_name_the_field(params, field):
    assert field in params.errors(TODAY)


def test_thirty_nights_is_allowed():
    assert hotel(check_out=date(2027, 3, 31)).errors(TODAY) == {}


def test_partitions_are_the_nights_or_the_date():
    assert hotel().partition_keys() == ["hotel#PAR#2027-03-01", "hotel#PAR#2027-03-02", "hotel#PAR#2027-03-03"]
    assert SearchParams("flight", origin="CDG", destination="JFK", date=D).partition_keys() == \
        ["flight#CDG#JFK#2027-03-01"]


def test_the_budget_per_unit_is_exact():
    params = SearchParams("event", city="LIS", date=D, quantity=3, max_price=10000)
    assert params.max_unit_total() == 3333  # 3 x 3333 = 9999 <= 10000 < 3 x 3334
    assert hotel(quantity=2, max_price=10001).max_unit_total() == 5000  # summed over the nights
    assert hotel().max_unit_total() is None


def test_the_rating_index_partitions_are_the_place_or_every_airport_pair():
    assert hotel().place_keys() == ["hotel#PAR"]
    assert SearchParams("flight", origin="PAR", destination="JFK", date=D).place_keys() == [
        "flight#CDG#JFK", "flight#ORY#JFK", "flight#BVA#JFK"]


def test_fingerprint_depends_on_everything_but_the_page():
    assert hotel().fingerprint() == hotel().fingerprint()
    assert hotel().fingerprint() != hotel(quantity=2).fingerprint()
    assert hotel().fingerprint() != hotel(sort="rating").fingerprint()


def test_cursors_round_trip_and_refuse_forgery():
    token = pagination.encode({"a": [1200, "lst_x"], "f": "abc"}, scope="search")
    assert pagination.decode(token, scope="search") == {"a": [1200, "lst_x"], "f": "abc"}
    body, signature = token.split(".")
    for bad in [token[:-1] + ("A" if token[-1] != "A" else "B"), body + ".", "x" * 5000, "no-dot",
                pagination.encode({"a": 1}, scope="vendors")]:
        with pytest.raises(ValidationError) as raised:
            pagination.decode(bad, scope="search")
        assert raised.value.details == {"fields": {"cursor": "is not a valid cursor for this list"}}


def test_a_signed_payload_that_is_not_json_is_refused():
    body = "bm90IGpzb24"  # "not json"
    token = f"{body}.{pagination._sign('', body)}"
    with pytest.raises(ValidationError):
        pagination.decode(token)


def test_a_city_code_stands_for_its_airports_and_an_airport_code_for_itself():
    from chalicelib.inventory.places import airports

    assert airports("PAR") == ("CDG", "ORY", "BVA")
    assert airports("CDG") == ("CDG",)


def test_a_flight_between_city_codes_reads_one_partition_per_airport_pair():
    groups = SearchParams("flight", origin="PAR", destination="NYC", date=D).partition_groups()

    assert groups == [[f"flight#{o}#{d}#2027-03-01" for o in ("CDG", "ORY", "BVA") for d in ("JFK", "EWR", "LGA")]]


def test_a_flight_between_a_city_code_and_an_airport_reads_the_citys_airports_only():
    groups = SearchParams("flight", origin="CDG", destination="TYO", date=D).partition_groups()

    assert groups == [["flight#CDG#HND#2027-03-01", "flight#CDG#NRT#2027-03-01"]]


def test_a_flight_from_a_city_to_one_of_its_own_airports_is_refused():
    assert set(SearchParams("flight", origin="PAR", destination="ORY", date=D).errors(TODAY)) == {"destination"}


def test_every_flight_search_reads_a_bounded_number_of_partitions():
    from chalicelib.inventory.places import CITIES, MAX_AIRPORTS_PER_CITY

    widest = max(len(SearchParams("flight", origin=a, destination=b, date=D).partition_keys())
                 for a in CITIES for b in CITIES if a != b)
    assert widest <= MAX_AIRPORTS_PER_CITY ** 2
    assert all(1 <= len(city.airports) <= MAX_AIRPORTS_PER_CITY for city in CITIES.values())
