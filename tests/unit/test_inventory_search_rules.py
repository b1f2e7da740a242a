"""Pure search rules and cursors: parameters per kind, offers, ordering, keyset pages."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core import pagination
from chalicelib.core.errors import ValidationError
from chalicelib.inventory.search_rules import DayOffer, Offer, SearchParams, combine, page_after, within_budget

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


def test_the_unit_price_bound_is_exact():
    params = SearchParams("event", city="LIS", date=D, quantity=3, max_price=10000)
    assert params.max_unit_price() == 3333  # 3 x 3333 = 9999 <= 10000 < 3 x 3334
    assert hotel(max_price=10000).max_unit_price() is None  # a stay's total is a sum: filtered later


def test_fingerprint_depends_on_everything_but_the_page():
    assert hotel().fingerprint() == hotel().fingerprint()
    assert hotel().fingerprint() != hotel(quantity=2).fingerprint()
    assert hotel().fingerprint() != hotel(sort="rating").fingerprint()


def nights(*rows_per_night):
    return [{r.listing_id: r for r in rows} for rows in rows_per_night]


def test_combine_keeps_listings_with_the_units_every_night():
    a1, a2 = DayOffer("a", 5, 100, "EUR"), DayOffer("a", 2, 120, "EUR")
    b1, b2 = DayOffer("b", 5, 50, "EUR"), DayOffer("b", 1, 50, "EUR")
    c1 = DayOffer("c", 9, 10, "EUR")
    offers = combine(nights([a1, b1, c1], [a2, b2]), quantity=2)
    assert [(o.listing_id, o.available, o.unit_total, o.price_total) for o in offers] == [("a", 2, 220, 440)]
    assert [o.listing_id for o in combine(nights([a1, b1, c1], [a2, b2]), quantity=1)] == ["a", "b"]
    assert combine([], 1) == []


def test_budget_and_currency():
    offers = [Offer("a", 1, 100, "EUR", 2), Offer("b", 1, 150, "USD", 2)]
    assert [o.listing_id for o in within_budget(offers, hotel(max_price=200))] == ["a"]
    assert [o.listing_id for o in within_budget(offers, hotel(currency="USD"))] == ["b"]


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 5), st.integers(0, 4)), max_size=40,
                unique_by=lambda t: t),
       st.integers(1, 7), st.sampled_from(["price", "rating"]))
def test_walking_the_pages_yields_every_offer_once_in_order(rows, limit, sort):
    offers = []
    for i, (price, count, stars) in enumerate(rows):
        offers.append(Offer(f"lst_{i:03d}", 1, price, "EUR", 1, rating_sum=stars * count, rating_count=count))
    walked, after = [], None
    while True:
        page, after = page_after(offers, sort, after, limit)
        assert len(page) <= limit
        walked += page
        if after is None:
            break
    assert [o.listing_id for o in walked] == [o.listing_id for o in page_after(offers, sort, None, 10**6)[0]]
    assert sorted(o.listing_id for o in walked) == sorted(o.listing_id for o in offers)


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
