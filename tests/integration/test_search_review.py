"""GET /search when a vendor changes a listing between two pages of one walk (found by an
adversarial review of the top-k search).

The cursor carries where each date's list stopped and the listings met but not yet shown. The
next page reads those listings again, so a sale or a new price in between shows; a listing
whose price falls behind where a list stopped is met again once the cursor's state is old.
"""
from __future__ import annotations

import pytest

from chalicelib.core import clock
from tests.integration.test_search import day, days, ids, listing, search


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.reset()


def _page(api, cursor=None, **params):
    extra = {"cursor": cursor} if cursor else {}
    response = search(api, **params, **extra)
    assert response.status_code == 200, response.data
    return response.data


def _rest(api, cursor, **params) -> list[dict]:
    results = []
    while cursor:
        data = _page(api, cursor, **params)
        results += data["results"]
        cursor = data["next_cursor"]
    return results


def test_a_listing_sold_out_between_pages_is_not_on_the_next_page(api, tokens):
    """API.md: "Sold-out listings are not returned"."""
    v = tokens["vendor"]
    first, sold_out = listing(api, v, kind="event", city="RVA"), listing(api, v, kind="event", city="RVA")
    days(api, v, first, (0, 5, 100))
    days(api, v, sold_out, (0, 5, 200))
    query = {"kind": "event", "city": "RVA", "date": day(0), "limit": 1}
    page1 = _page(api, **query)
    assert [r["listing_id"] for r in page1["results"]] == [first]

    days(api, v, sold_out, (0, 0, 200))  # the vendor takes it off sale (or it sells out)
    assert ids(search(api, kind="event", city="RVA", date=day(0))) == [first]  # a fresh search knows

    rest = _rest(api, page1["next_cursor"], **query)
    assert [r["listing_id"] for r in rest] == [], rest  # got it, "available": 5, from the cursor


def test_the_next_page_shows_the_price_the_listing_has_now(api, tokens):
    v = tokens["vendor"]
    first, repriced = listing(api, v, kind="hotel", city="RVB"), listing(api, v, kind="hotel", city="RVB")
    days(api, v, first, (0, 5, 100), (1, 5, 100))
    days(api, v, repriced, (0, 5, 200), (1, 5, 200))
    query = {"kind": "hotel", "city": "RVB", "check_in": day(0), "check_out": day(2), "limit": 1}
    page1 = _page(api, **query)
    assert [r["listing_id"] for r in page1["results"]] == [first]

    days(api, v, repriced, (0, 5, 900), (1, 5, 900))
    rest = _rest(api, page1["next_cursor"], **query)
    assert [(r["listing_id"], r["price_total"]["amount"]) for r in rest] == [(repriced, 1800)], rest


def test_a_listing_that_gets_cheaper_between_pages_is_met_once_the_cursors_state_is_old(api, tokens):
    """Page 1 (limit 1) reads 10 rows of the date's list (FIRST_CHUNK_MIN), so the list stands
    at 1000 while only 100 was shown. Z drops from 5000 to 150, behind where the list stopped.
    Past STATE_MAX_AGE_SECONDS the next page starts the list again after the last key shown
    (100), as the keyset cursor before c07b8f0 did, and meets Z."""
    from chalicelib.inventory.search import STATE_MAX_AGE_SECONDS

    v = tokens["vendor"]
    made = []
    for i in range(11):
        lid = listing(api, v, kind="event", city="RVC", title=f"Show {i}")
        days(api, v, lid, (0, 50, 100 * (i + 1)))
        made.append(lid)
    z = listing(api, v, kind="event", city="RVC", title="Z")
    days(api, v, z, (0, 50, 5000))
    query = {"kind": "event", "city": "RVC", "date": day(0), "limit": 1}
    page1 = _page(api, **query)
    assert [r["listing_id"] for r in page1["results"]] == [made[0]]

    days(api, v, z, (0, 50, 150))
    assert ids(search(api, kind="event", city="RVC", date=day(0)))[:2] == [made[0], z]  # fresh search
    clock.advance(STATE_MAX_AGE_SECONDS + 1)
    rest = [r["listing_id"] for r in _rest(api, page1["next_cursor"], **query)]
    assert z in rest, rest
