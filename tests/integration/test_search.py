"""GET /search through the API: every kind, the nights rule, order, filters, cursors, errors."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.inventory.domain import utc_now
from chalicelib.inventory.models import AvailabilityDay, Listing, rating_actions

START = utc_now().date() + timedelta(days=40)
POLICY = {"free_until_hours": 24, "refund_percent_after": 0}


def day(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


def listing(api, token, **fields) -> str:
    body = {"title": "A listing", "currency": "EUR", "cancellation_policy": POLICY, **fields}
    response = api.post("/vendor/listings", body, token=token)
    assert response.status_code == 201, response.data
    return response.data["listing_id"]


def days(api, token, listing_id, *entries) -> None:
    """entries: (offset, capacity, price)."""
    body = {"days": [{"date": day(o), "capacity": c, "price": p} for o, c, p in entries]}
    response = api.put(f"/vendor/listings/{listing_id}/availability", body, token=token)
    assert response.status_code == 200, response.data


def search(api, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return api.get(f"/search?{query}")


def ids(response) -> list[str]:
    assert response.status_code == 200, response.data
    return [r["listing_id"] for r in response.data["results"]]


def fields_of(response) -> dict:
    assert response.status_code == 400, response.data
    assert response.data["error"]["code"] == "VALIDATION_ERROR"
    return response.data["error"]["details"]["fields"]


def stay(**extra):
    return {"kind": "hotel", "city": "PAR", "check_in": day(0), "check_out": day(3), **extra}


def test_a_hotel_matches_only_if_every_night_has_the_units(api, tokens):
    v = tokens["vendor"]
    every_night = listing(api, v, kind="hotel", city="PAR", title="Every night")
    days(api, v, every_night, (0, 5, 10000), (1, 2, 12000), (2, 5, 11000))  # check-out night (3) not needed
    one_full_night = listing(api, v, kind="hotel", city="PAR", title="Full on night two")
    days(api, v, one_full_night, (0, 5, 5000), (1, 0, 5000), (2, 5, 5000))
    missing_night = listing(api, v, kind="hotel", city="PAR", title="Not on sale night three")
    days(api, v, missing_night, (0, 5, 5000), (1, 5, 5000))
    elsewhere = listing(api, v, kind="hotel", city="LIS")
    days(api, v, elsewhere, (0, 5, 1000), (1, 5, 1000), (2, 5, 1000))

    response = search(api, **stay())
    assert ids(response) == [every_night]
    result = response.data["results"][0]
    assert result == {
        "listing_id": every_night, "kind": "hotel", "title": "Every night", "vendor_id": "ven_aurora",
        "city": "PAR", "check_in": day(0), "check_out": day(3), "available": 2,
        "price_total": {"amount": 33000, "currency": "EUR"}, "rating": {"average": None, "count": 0}}
    assert response.data["next_cursor"] is None

    two_rooms = search(api, **stay(quantity=2)).data["results"]
    assert [r["price_total"]["amount"] for r in two_rooms] == [66000]
    assert ids(search(api, **stay(quantity=3))) == []  # night two has only 2 rooms
    # Nights 0 and 1 only: the night not on sale is outside this stay, the full one is not.
    assert set(ids(search(api, **stay(check_out=day(2))))) == {every_night, missing_night}
    assert set(ids(search(api, **stay(check_out=day(1))))) == {every_night, one_full_night, missing_night}


def test_held_and_sold_units_count_against_availability(api, tokens):
    v = tokens["vendor"]
    room = listing(api, v, kind="hotel", city="PAR")
    days(api, v, room, (0, 3, 100), (1, 3, 100), (2, 3, 100))
    d = AvailabilityDay
    AvailabilityDay(room, day(1)).update(actions=[d.available.set(d.available - 2), d.held.set(d.held + 2)])
    assert search(api, **stay()).data["results"][0]["available"] == 1
    assert ids(search(api, **stay(quantity=2))) == []
    AvailabilityDay(room, day(1)).update(actions=[d.available.set(d.available - 1), d.sold.set(d.sold + 1)])
    assert ids(search(api, **stay())) == []  # sold out: never returned


def test_flights_events_and_services(api, tokens):
    v, v2 = tokens["vendor"], tokens["vendor2"]
    morning = listing(api, v, kind="flight", origin="CDG", destination="LIS", title="Morning")
    days(api, v, morning, (0, 150, 9000), (1, 150, 9500))
    evening = listing(api, v2, kind="flight", origin="CDG", destination="LIS", title="Evening")
    days(api, v2, evening, (0, 2, 7000))
    back = listing(api, v, kind="flight", origin="LIS", destination="CDG")
    days(api, v, back, (0, 150, 100))
    fado = listing(api, v, kind="event", city="LIS", title="Fado night")
    days(api, v, fado, (0, 60, 4000))
    tour = listing(api, v2, kind="service", city="LIS", title="Walking tour")
    days(api, v2, tour, (0, 20, 2200))
    room = listing(api, v, kind="hotel", city="LIS")
    days(api, v, room, (0, 5, 100))

    flights = search(api, kind="flight", origin="CDG", destination="LIS", date=day(0), quantity=2)
    assert ids(flights) == [evening, morning]  # cheapest first
    first = flights.data["results"][0]
    assert (first["origin"], first["destination"], first["date"], first["vendor_id"]) == ("CDG", "LIS", day(0), "ven_meridian")
    assert first["price_total"] == {"amount": 14000, "currency": "EUR"} and "city" not in first
    assert ids(search(api, kind="flight", origin="CDG", destination="LIS", date=day(0), quantity=3)) == [morning]
    assert ids(search(api, kind="flight", origin="cdg", destination="lis", date=day(1))) == [morning]

    events = search(api, kind="event", city="LIS", date=day(0), quantity=2)
    assert ids(events) == [fado] and events.data["results"][0]["price_total"]["amount"] == 8000
    assert ids(search(api, kind="service", city="LIS", date=day(0))) == [tour]
    assert ids(search(api, kind="event", city="LIS", date=day(1))) == []


def test_max_price_and_currency(api, tokens):
    v = tokens["vendor"]
    cheap = listing(api, v, kind="hotel", city="PAR")
    days(api, v, cheap, (0, 5, 10000), (1, 5, 10000), (2, 5, 10000))
    dear = listing(api, v, kind="hotel", city="PAR")
    days(api, v, dear, (0, 5, 20000), (1, 5, 20000), (2, 5, 20000))
    dollars = listing(api, v, kind="hotel", city="PAR", currency="USD")
    days(api, v, dollars, (0, 5, 15000), (1, 5, 15000), (2, 5, 15000))

    assert ids(search(api, **stay(max_price=30000))) == [cheap]  # totals: 30000, 45000, 60000
    assert ids(search(api, **stay(max_price=29999))) == []
    assert ids(search(api, **stay(max_price=90000, quantity=2))) == [cheap, dollars]
    assert ids(search(api, **stay(currency="USD"))) == [dollars]

    show = listing(api, v, kind="event", city="PAR")
    days(api, v, show, (0, 50, 3000))
    assert ids(search(api, kind="event", city="PAR", date=day(0), quantity=3, max_price=9000)) == [show]
    assert ids(search(api, kind="event", city="PAR", date=day(0), quantity=3, max_price=8999)) == []


def _walk(api, limit, **params):
    seen, cursor, pages = [], None, 0
    while True:
        extra = {"cursor": cursor} if cursor else {}
        response = search(api, limit=limit, **params, **extra)
        assert response.status_code == 200, response.data
        assert len(response.data["results"]) <= limit
        seen += response.data["results"]
        pages += 1
        cursor = response.data["next_cursor"]
        if cursor is None:
            return seen, pages


def test_the_cursor_walks_every_result_once_in_order(api, tokens):
    v = tokens["vendor"]
    made = []
    for i in range(23):  # prices repeat (ties) so the order must break them on the id
        lid = listing(api, v, kind="event", city="BCN", title=f"Show {i}")
        days(api, v, lid, (0, 10, 1000 + (i % 5) * 100))
        made.append(lid)
    sold_out = listing(api, v, kind="event", city="BCN")
    days(api, v, sold_out, (0, 0, 1))

    everything = search(api, kind="event", city="BCN", date=day(0), limit=100).data
    assert everything["next_cursor"] is None and len(everything["results"]) == 23

    walked, pages = _walk(api, 5, kind="event", city="BCN", date=day(0))
    assert pages == 5
    assert [r["listing_id"] for r in walked] == [r["listing_id"] for r in everything["results"]]
    assert sorted(r["listing_id"] for r in walked) == sorted(made)
    keys = [(r["price_total"]["amount"], r["listing_id"]) for r in walked]
    assert keys == sorted(keys)

    # An exact multiple of the page size ends without an empty page.
    walked, pages = _walk(api, 23, kind="event", city="BCN", date=day(0))
    assert len(walked) == 23 and pages == 1


def test_sort_by_rating(api, tokens):
    v = tokens["vendor"]
    rated = {}
    for title, ratings in [("Good", (4, 5, 5)), ("Best", (5, 5)), ("Unrated", ()), ("Fine", (3, 4)),
                           ("Also best, more reviews", (5, 5, 5, 5))]:
        lid = listing(api, v, kind="service", city="NYC", title=title)
        days(api, v, lid, (0, 10, 5000))
        Listing(lid).update(actions=rating_actions(lid, sum(ratings), len(ratings)))
        rated[title] = lid
    walked, _ = _walk(api, 2, kind="service", city="NYC", date=day(0), sort="rating")
    assert [r["title"] for r in walked] == ["Also best, more reviews", "Best", "Good", "Fine", "Unrated"]
    assert walked[2]["rating"] == {"average": 4.67, "count": 3}
    assert walked[-1]["rating"] == {"average": None, "count": 0}


def test_cursors_cannot_be_tampered_with_or_reused_elsewhere(api, tokens):
    v = tokens["vendor"]
    for i in range(3):
        lid = listing(api, v, kind="event", city="TYO")
        days(api, v, lid, (0, 10, 1000 + i))
    cursor = search(api, kind="event", city="TYO", date=day(0), limit=1).data["next_cursor"]
    body, signature = cursor.split(".")
    forged = body[:-1] + ("A" if body[-1] != "A" else "B") + "." + signature
    for bad in (forged, cursor + "x", "garbage", "a.b.c"):
        assert "cursor" in fields_of(search(api, kind="event", city="TYO", date=day(0), cursor=bad))
    # A real cursor of another search is refused too, instead of silently skipping results.
    assert "cursor" in fields_of(search(api, kind="event", city="TYO", date=day(0), quantity=2, cursor=cursor))
    assert search(api, kind="event", city="TYO", date=day(0), limit=2, cursor=cursor).status_code == 200


@pytest.mark.parametrize("params, field", [
    (stay(check_out=day(0)), "check_out"),
    (stay(check_in=day(5), check_out=day(2)), "check_out"),
    (stay(check_out=day(31)), "check_out"),
    (stay(check_in=(utc_now().date() - timedelta(days=3)).isoformat()), "check_in"),
    ({"kind": "event", "city": "PAR", "date": (utc_now().date() - timedelta(days=2)).isoformat()}, "date"),
    (stay(sort="cheapest"), "sort"),
    ({"kind": "cruise", "city": "PAR", "date": day(0)}, "kind"),
    ({"city": "PAR", "date": day(0)}, "kind"),
    (stay(quantity=0), "quantity"),
    (stay(quantity=-1), "quantity"),
    (stay(quantity="two"), "quantity"),
    (stay(limit=0), "limit"),
    (stay(limit=101), "limit"),
    (stay(max_price=-1), "max_price"),
    ({"kind": "hotel", "city": "PAR", "check_in": day(0)}, "check_out"),
    ({"kind": "hotel", "check_in": day(0), "check_out": day(1)}, "city"),
    ({"kind": "flight", "origin": "CDG", "date": day(0)}, "destination"),
    ({"kind": "flight", "origin": "CDG", "destination": "CDG", "date": day(0)}, "destination"),
    ({"kind": "flight", "origin": "CDG", "destination": "LIS"}, "date"),
    ({"kind": "event", "date": day(0)}, "city"),
    ({"kind": "service", "city": "PAR", "date": day(0), "check_in": day(0)}, "check_in"),
    ({"kind": "event", "city": "PARIS", "date": day(0)}, "city"),
    ({"kind": "event", "city": "PAR", "date": "tomorrow"}, "date"),
    (stay(currency="EURO"), "currency"),
    (stay(page=2), "page"),
])
def test_bad_parameters_are_400_naming_the_field(api, params, field):
    assert field in fields_of(search(api, **params))


def test_thirty_nights_is_the_longest_stay(api, tokens):
    v = tokens["vendor"]
    room = listing(api, v, kind="hotel", city="CPT", currency="USD")
    body = {"from": day(0), "to": day(29), "capacity": 1, "price": 100}
    assert api.put(f"/vendor/listings/{room}/availability", body, token=v).status_code == 200
    month = search(api, kind="hotel", city="CPT", check_in=day(0), check_out=day(30))
    assert month.data["results"][0]["price_total"]["amount"] == 3000


def test_search_reads_only_its_partitions(api, tokens):
    """No scan, and no read per listing: a query per night and one batch read of listings."""
    v = tokens["vendor"]
    for city in ("PAR", "LIS"):
        for _ in range(4):
            lid = listing(api, v, kind="hotel", city=city)
            days(api, v, lid, (0, 5, 100), (1, 5, 100), (2, 5, 100), (5, 5, 100))
    calls = []
    clients = {m._get_connection().connection.client for m in (AvailabilityDay, Listing)}

    def record(model, params, **_):
        calls.append((model.name, params.get("IndexName"), params.get("KeyConditionExpression") is not None))

    for client in clients:
        client.meta.events.register("provide-client-params.dynamodb.*", record)
    try:
        assert len(ids(search(api, **stay(limit=3)))) == 3
    finally:
        for client in clients:
            client.meta.events.unregister("provide-client-params.dynamodb.*", record)
    assert calls == [("Query", "by-search-price", True)] * 3 + [("BatchGetItem", None, False)]


def test_a_city_code_finds_the_flights_of_every_airport_of_the_city(api, tokens):
    v = tokens["vendor"]
    flights = {}
    for origin, destination in (("CDG", "JFK"), ("ORY", "EWR"), ("CDG", "LIS"), ("LIS", "JFK")):
        flights[origin, destination] = listing(api, v, kind="flight", origin=origin, destination=destination)
        days(api, v, flights[origin, destination], (0, 50, 40000))

    assert set(ids(search(api, kind="flight", origin="PAR", destination="NYC", date=day(0)))) == {
        flights["CDG", "JFK"], flights["ORY", "EWR"]}
    assert ids(search(api, kind="flight", origin="PAR", destination="JFK", date=day(0))) == [flights["CDG", "JFK"]]
    assert ids(search(api, kind="flight", origin="ORY", destination="NYC", date=day(0))) == [flights["ORY", "EWR"]]


def test_a_city_code_flight_search_reads_one_partition_per_airport_pair(api, tokens):
    """PAR (3 airports) to NYC (3 airports): 9 queries of the search index, no scan."""
    v = tokens["vendor"]
    lid = listing(api, v, kind="flight", origin="ORY", destination="LGA")
    days(api, v, lid, (0, 50, 40000))
    calls = []
    clients = {m._get_connection().connection.client for m in (AvailabilityDay, Listing)}

    def record(model, params, **_):
        calls.append((model.name, params.get("IndexName"), params.get("KeyConditionExpression") is not None))

    for client in clients:
        client.meta.events.register("provide-client-params.dynamodb.*", record)
    try:
        assert ids(search(api, kind="flight", origin="PAR", destination="NYC", date=day(0))) == [lid]
    finally:
        for client in clients:
            client.meta.events.unregister("provide-client-params.dynamodb.*", record)
    assert sorted(calls) == sorted([("Query", "by-search-price", True)] * 9 + [("BatchGetItem", None, False)])


def test_a_vendors_new_price_moves_the_listing_in_the_next_search(api, tokens):
    v = tokens["vendor"]
    cheap, dear = listing(api, v, kind="hotel", city="OSL"), listing(api, v, kind="hotel", city="OSL")
    days(api, v, cheap, (0, 5, 100), (1, 5, 100))
    days(api, v, dear, (0, 5, 900), (1, 5, 900))
    osl = {"kind": "hotel", "city": "OSL", "check_in": day(0), "check_out": day(2)}
    assert ids(search(api, **osl)) == [cheap, dear]

    days(api, v, dear, (1, 5, 50))  # one night on sale: 950 -> 950 - 850
    days(api, v, dear, (0, 5, 40))
    assert ids(search(api, **osl)) == [dear, cheap]
    assert search(api, **osl).data["results"][0]["price_total"]["amount"] == 90
    days(api, v, cheap, (1, 0, 100))  # sold out one night: gone from the stay's results
    assert ids(search(api, **osl)) == [dear]


def test_a_deeper_page_reads_about_what_the_first_reads(api, tokens):
    """Page 4 continues where page 3 stopped instead of reading the nights from the start."""
    v = tokens["vendor"]
    for i in range(40):
        lid = listing(api, v, kind="hotel", city="HEL", title=f"Hotel {i}")
        days(api, v, lid, (0, 5, 1000 + i * 10), (1, 5, 1000 + i * 10 + (i % 3)))
    helsinki = {"kind": "hotel", "city": "HEL", "check_in": day(0), "check_out": day(2), "limit": 5}
    client = AvailabilityDay._get_connection().connection.client
    scanned = []

    def count(parsed, model, **_):
        if model.name == "Query":
            scanned.append(parsed.get("ScannedCount", 0))

    cursor, read = None, []
    client.meta.events.register("after-call.dynamodb.Query", count)
    try:
        for _ in range(4):
            scanned.clear()
            page = search(api, **helsinki, **({"cursor": cursor} if cursor else {}))
            assert len(ids(page)) == 5
            cursor = page.data["next_cursor"]
            read.append(sum(scanned))
    finally:
        client.meta.events.unregister("after-call.dynamodb.Query", count)
    assert read[3] <= 1.5 * read[0], read
    assert read[0] < 40, read  # not every night of every hotel


def test_a_walk_whose_state_outgrows_the_cursor_restarts_the_lists_without_repeats_or_gaps(
        api, tokens, monkeypatch):
    """Offers waiting for a later page go into the cursor; when they would not fit, the cursor
    keeps only the last key shown and the next page reads the nights from the start."""
    v = tokens["vendor"]
    for i in range(12):  # cheap on one night, dear on the other: many offers wait between pages
        lid = listing(api, v, kind="hotel", city="RIX", title=f"Hotel {i}")
        days(api, v, lid, (0, 5, 100 + i), (1, 5, 2000 - i * 100))
    riga = {"kind": "hotel", "city": "RIX", "check_in": day(0), "check_out": day(2)}
    everything = ids(search(api, **riga, limit=100))
    assert len(everything) == 12

    from chalicelib.core import pagination
    full, _ = _walk(api, 3, **riga)
    monkeypatch.setattr(pagination, "MAX_CURSOR_LENGTH", 220)  # only a restart cursor fits
    restarted, pages = _walk(api, 3, **riga)
    assert [r["listing_id"] for r in restarted] == [r["listing_id"] for r in full] == everything
    assert pages == 4
