"""Adversarial review of the top-k search (c07b8f0): what a page reads, through real cursors.

The in-memory store of test_search_topk answers as DynamoDB does; here the walk goes through
the real cursor (search._cursor / search._state, 4 KB limit and restart fallback included),
and the catalogs are the ones the property tests do not draw: many listings at one price, a
city where nobody has reviews yet (the app has no review writer: every listing is unrated),
long stays whose offers waiting do not fit in a cursor.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from chalicelib.core import pagination
from chalicelib.inventory import search, topk
from chalicelib.inventory.search_rules import SearchParams
from tests.unit.test_search_topk import FakeStore, brute_force, serial

FIRST = date(2027, 3, 1)


def _params(nights: int, sort: str, **extra) -> SearchParams:
    return SearchParams(kind="hotel", city="PAR", check_in=FIRST, check_out=FIRST + timedelta(days=nights),
                        sort=sort, **extra)


def _walk(store: FakeStore, params: SearchParams, limit: int, pages: int | None = None):
    """Pages through the real cursor encoding; returns (ids shown, items read per page, restarts)."""
    query = topk.Query(dates=[d.isoformat() for d in params.dates], quantity=params.quantity, limit=limit,
                       currency=params.currency, max_unit_total=params.max_unit_total())
    walk_ = topk.best_rated if params.sort == "rating" else topk.cheapest
    fingerprint = params.fingerprint()
    cursor, shown, reads, restarts = None, [], [], 0
    while pages is None or len(reads) < pages:
        state = search._state(params, cursor, fingerprint)
        before = store.items_read
        page, after = walk_(query, state, store, serial)
        reads.append(store.items_read - before)
        shown += [c.listing_id for c in page]
        if after is None:
            break
        cursor = search._cursor(after, fingerprint)
        restarts += pagination.decode(cursor, scope=search.SCOPE)["s"] is None
    return shown, reads, restarts


def _city(hotels: int, nights: int, *, price=lambda n, i: 5000 + (n * 7919) % 50000 + (n * 31 + i * 17) % 800,
          rating=lambda n: (0, 0)):
    rows, ratings = {}, {}
    for n in range(hotels):
        listing_id = f"lst_h{n:05d}abcdefghij"  # ids as long as service.new_id's (16 characters)
        for i in range(nights):
            day = (FIRST + timedelta(days=i)).isoformat()
            rows[listing_id, day] = topk.Row(listing_id, day, 5, price(n, i), "EUR")
        ratings[listing_id] = rating(n)
    return rows, ratings


# --- 1. ties at the threshold: a page reads every listing at that price -------------------------

@pytest.mark.parametrize("nights, price, budget", [
    (1, 5000, None),  # 2000 events at one flat price
    (1, 0, 0),  # free events, max_price=0
    (3, 12000, None),  # flat-rate hotels: the same price every night
])
def test_a_page_among_listings_at_one_price_reads_about_a_page(nights, price, budget):
    rows, ratings = _city(2000, nights, price=lambda n, i: price)
    params = _params(nights, "price", max_price=budget)
    store = FakeStore(rows, ratings, params.max_unit_total())
    shown, reads, _ = _walk(store, params, limit=20, pages=1)
    assert len(shown) == 20
    # A page of 20 with 2000 rows per night tied: the threshold (sum of the last prices read) equals
    # every offer's total, `c.unit_total < total` is never true, so the lists are read to their end.
    assert reads[0] <= 10 * 20 * nights, reads


def test_deeper_pages_among_tied_prices_do_not_reread_the_whole_city():
    rows, ratings = _city(2000, 1, price=lambda n, i: 5000)
    params = _params(1, "price")
    store = FakeStore(rows, ratings)
    shown, reads, restarts = _walk(store, params, limit=20, pages=5)
    assert shown == brute_force(sorted({i for i, _ in rows}), rows, ratings,
                                topk.Query(dates=[FIRST.isoformat()], quantity=1, limit=20), "price")[:100]
    # 1980 offers waiting cannot fit in 4 KB: every page restarts and reads all 2000 rows again.
    assert sum(reads) <= 3 * 5 * 20 * 10, (reads, restarts)


# --- 2. sort=rating in a city without reviews reads the city ------------------------------------

@pytest.mark.parametrize("nights", [1, 3])
def test_a_rating_page_in_a_city_without_reviews_reads_about_a_page(nights):
    rows, ratings = _city(2000, nights)  # nobody has reviewed anything yet: one rating group
    params = _params(nights, "rating")
    store = FakeStore(rows, ratings)
    shown, reads, _ = _walk(store, params, limit=20, pages=1)
    assert len(shown) == 20
    # The unrated group is ordered by price, so it is certain only once the whole rating list has
    # been read and every listing's rows fetched: 2000 keys + 2000 x nights rows per page.
    assert reads[0] <= 10 * 20 * (nights + 1), reads


# --- 3. restart mode: deep pages cost more and more ---------------------------------------------

def test_the_tenth_rating_page_reads_about_what_the_first_reads_through_real_cursors():
    """test_search_topk checks this with the state kept in memory; through the real cursor the
    offers waiting of a rating walk overflow 4 KB from page 1 on, every page restarts from the
    best group, and page k reads about k pages."""
    def rating(n):
        count = n % 40 + 1
        return (0, 0) if n % 7 == 0 else ((n % 5 + 1) * count, count)

    rows, ratings = _city(5000, 3, rating=rating)
    params = _params(3, "rating")
    store = FakeStore(rows, ratings)
    shown, reads, restarts = _walk(store, params, limit=20, pages=12)
    assert len(shown) == len(set(shown)) == 240
    assert reads[11] <= 1.5 * reads[0], (reads, restarts)


def test_a_long_stay_walk_through_real_cursors_stays_cheap():
    rows, ratings = _city(5000, 30)
    params = _params(30, "price")
    store = FakeStore(rows, ratings)
    shown, reads, restarts = _walk(store, params, limit=20, pages=12)
    assert len(shown) == len(set(shown)) == 240
    assert max(reads[5:]) <= 2 * reads[0], (reads, restarts)


def test_keys_left_unprocessed_are_asked_again_after_a_growing_pause(monkeypatch):
    """BatchGetItem under throttling returns UnprocessedKeys: asked again, not in a busy loop."""
    from chalicelib.inventory import search_reads

    table = search_reads.AvailabilityDay.Meta.table_name
    item = {"listing_id": {"S": "lst_a"}, "date": {"S": "2027-03-01"}, "available": {"N": "2"},
            "price": {"N": "100"}, "currency": {"S": "EUR"}}
    answers = [{"Responses": {}, "UnprocessedKeys": {table: {"Keys": ["k"]}}},
               {"Responses": {}, "UnprocessedKeys": {table: {"Keys": ["k"]}}},
               {"Responses": {table: [item]}}]

    class Client:
        def batch_get_item(self, RequestItems):
            return answers.pop(0)

    pauses = []
    monkeypatch.setattr(search_reads, "_client", lambda: Client())
    monkeypatch.setattr(search_reads.time, "sleep", pauses.append)
    monkeypatch.setattr(search_reads.random, "uniform", lambda low, high: high)

    rows = search_reads.IndexStore().rows([("lst_a", "2027-03-01")])

    assert [(r.listing_id, r.available, r.price) for r in rows] == [("lst_a", 2, 100)]
    assert pauses == [0.02, 0.04]
