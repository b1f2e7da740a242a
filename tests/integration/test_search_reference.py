"""Search against a brute-force reference on random catalogs: same results, order and pages.

Each example writes a random catalog straight into the tables (moto) and walks every page of
`inventory.search.search` through its cursors; the reference is plain Python over the same
generated rows: a listing matches if every date of the search (a stay's nights, or the one date)
has a row with `available >= quantity`, all in one currency; `price_total` is the sum of the
prices times the quantity; `max_price` and `currency` filter the totals; sort=price orders by
(total, listing_id), sort=rating by (rated first, average high to low, count high to low,
listing_id): the rating index's order.

Why: search reads indexes ordered by unit price or rating and stops as soon as its page is
certain, so it never sees most rows; the reference always sees all of them. Prices, ratings and
review counts come from small sets so ties are frequent, and nights go missing, sell out or
change currency, which is where a shortcut would drop, repeat or misorder an offer.

Isolation: the examples of one test share one emulator, so each example sells in its own
made-up place (`Q??` cities, `X??` -> `Z??` airports, none of them in places.py) with its own
listing id prefix, and never sees another example's rows.
"""
from __future__ import annotations

import itertools
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, NamedTuple

from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from chalicelib.inventory import search as search_module
from chalicelib.inventory.domain import nights, rating_average, search_key, search_rank, utc_now
from chalicelib.inventory.models import AvailabilityDay, CancellationPolicyAttribute, Listing
from chalicelib.inventory.places import CITIES, airports
from chalicelib.inventory.search_rules import SearchParams

START = utc_now().date() + timedelta(days=5)  # well after domain.earliest_today, wherever we run
NOW = "2026-01-01T00:00:00Z"
PRICES = (0, 100, 100, 250, 999, 5000)  # per unit per date: sums and products tie often
CURRENCIES = ("EUR", "USD")
ID_CHARS = string.ascii_letters + string.digits + "-_"  # ASCII order: '-' < digits < A-Z < '_' < a-z
CURRENCY_FILTERS = st.sampled_from((None, None, None, "EUR", "USD"))
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow])

_REAL_CODES = set(CITIES) | {a for city in CITIES.values() for a in city.airports}
_examples = itertools.count()


# --- the generated catalog -------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One date of a listing: what an AvailabilityDay holds."""
    capacity: int
    held: int
    sold: int
    price: int
    currency: str

    @property
    def available(self) -> int:
        return self.capacity - self.held - self.sold


@dataclass
class Draft:
    """A listing as drawn: dates are offsets from the example's first date."""
    suffix: str
    currency: str
    rating: tuple[int, int]  # (rating_sum, rating_count)
    rows: dict[int, Row]


@dataclass
class Spec:
    """A listing as written: full id, place and dates."""
    listing_id: str
    kind: str
    place: dict[str, str]
    currency: str
    rating_sum: int
    rating_count: int
    rows: dict[date, Row] = field(default_factory=dict)


class Result(NamedTuple):
    listing_id: str
    price_total: int
    available: int
    currency: str
    rating: float | None
    rating_count: int


def _other(currency: str) -> str:
    return CURRENCIES[1 - CURRENCIES.index(currency)]


ratings = st.one_of(  # (rating_sum, rating_count)
    st.just((0, 0)),  # unrated
    st.lists(st.integers(1, 5), min_size=1, max_size=5).map(lambda stars: (sum(stars), len(stars))),
    # Few values, so listings often tie on the average (4.0 of 1, 2 or 3 reviews) or on both.
    st.sampled_from(((4, 1), (8, 2), (12, 3), (9, 2), (5, 1), (14, 3))),
    st.sampled_from(((8, 2), (9, 2), (12, 3))),
)


@st.composite
def rows(draw: Any, currency: str, troubled: bool) -> Row:
    """One date's row; a troubled listing's dates are often short or in the other currency."""
    # 0: sold out; 1 and 2: short for a larger quantity; 3: just enough for the largest.
    available = draw(st.sampled_from((40, 3, 2, 1, 0) if troubled else (40, 9, 5, 3)))
    held, sold = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    switched = troubled and draw(st.sampled_from((False, False, False, True)))
    return Row(available + held + sold, held, sold, draw(st.sampled_from(PRICES)),
               _other(currency) if switched else currency)


@st.composite
def drafts(draw: Any, offsets: range) -> list[Draft]:
    """1..25 listings with rows on `offsets`: most have the units on every date, a third have
    missing, short or sold-out dates or dates in the other currency, a few are not on sale."""
    count = draw(st.integers(1, 25))  # drawn first: a list's own size would mostly be small
    suffixes = draw(st.lists(st.text(ID_CHARS, min_size=1, max_size=4), min_size=count, max_size=count,
                             unique=True))
    listings = []
    for suffix in suffixes:
        currency = draw(st.sampled_from(CURRENCIES))
        on_sale = draw(st.sampled_from((True,) * 9 + (False,)))
        troubled = draw(st.sampled_from((False, False, True)))
        listing_rows = {}
        for offset in offsets:
            if on_sale and (not troubled or draw(st.sampled_from((True, True, True, False)))):
                listing_rows[offset] = draw(rows(currency, troubled))
        listings.append(Draft(suffix, currency, draw(ratings), listing_rows))
    return listings


@dataclass
class Case:
    kind: str
    listings: list[Draft]
    search_offsets: list[int]  # the dates searched (nights of a stay, or the one date)
    quantity: int
    max_price: int | None
    currency: str | None
    sort: str
    limit: int


@st.composite
def budgets(draw: Any, listings: list[Draft], offsets: list[int], quantity: int) -> int | None:
    """max_price: none half of the time, else often a listing's total itself or one below it."""
    totals = sorted({sum(d.rows[o].price for o in offsets) * quantity
                     for d in listings if all(o in d.rows for o in offsets)})
    how = draw(st.sampled_from(("none", "none", "total", "below", "any")))
    if how == "none":
        return None
    if how == "any" or not totals:
        return draw(st.integers(0, 70_000))
    total = draw(st.sampled_from(totals))
    return total if how == "total" else max(total - 1, 0)


@st.composite
def hotel_cases(draw: Any, sort: str) -> Case:
    stay, quantity = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    # Rows also on the night before check-in and on the check-out date: neither is in the stay.
    listings = draw(drafts(range(-1, stay + 1)))
    searched = list(range(stay))
    return Case("hotel", listings, searched, quantity, draw(budgets(listings, searched, quantity)),
                draw(CURRENCY_FILTERS), sort, draw(st.integers(1, 7)))


@st.composite
def single_date_cases(draw: Any) -> Case:
    kind, quantity = draw(st.sampled_from(("event", "service", "flight"))), draw(st.integers(1, 3))
    listings = draw(drafts(range(-1, 2)))  # the date searched is 0; its neighbours must not count
    return Case(kind, listings, [0], quantity, draw(budgets(listings, [0], quantity)),
                draw(CURRENCY_FILTERS), draw(st.sampled_from(("price", "rating"))),
                draw(st.integers(1, 7)))


# --- writing, the reference, and walking the pages -------------------------------------------

def _code(prefix: str, n: int) -> str:
    code = prefix + string.ascii_uppercase[n // 26 % 26] + string.ascii_uppercase[n % 26]
    assert code not in _REAL_CODES, code  # would fan out to real airports or meet seeded rows
    return code


def _write(specs: list[Spec]) -> None:
    listings, days = [], []
    for spec in specs:
        listings.append(Listing(
            spec.listing_id, vendor_id="ven_reference", kind=spec.kind, title=f"{spec.kind} {spec.listing_id}",
            description="", currency=spec.currency, created_at=NOW, updated_at=NOW, version=1,
            cancellation_policy=CancellationPolicyAttribute(free_until_hours=24, refund_percent_after=0),
            rating_sum=spec.rating_sum, rating_count=spec.rating_count, **spec.place).with_index_keys())
        for day, row in spec.rows.items():
            days.append(AvailabilityDay(
                spec.listing_id, day.isoformat(), capacity=row.capacity, held=row.held, sold=row.sold,
                available=row.available, price=row.price, currency=row.currency, version=1,
                search_key=search_key(spec.kind, day, **spec.place),
                search_rank=search_rank(row.price, spec.listing_id)))
    for model, items in ((Listing, listings), (AvailabilityDay, days)):
        with model.batch_write() as batch:
            for item in items:
                batch.save(item)


def _delete(specs: list[Spec]) -> None:
    """Removes an example's rows: moto answers a Query by going through the whole table, so a
    table that kept every example's rows would make each example slower than the last."""
    with AvailabilityDay.batch_write() as batch:
        for spec in specs:
            for day in spec.rows:
                batch.delete(AvailabilityDay(spec.listing_id, day.isoformat()))
    with Listing.batch_write() as batch:
        for spec in specs:
            batch.delete(Listing(spec.listing_id))


def _in_place(spec: Spec, params: SearchParams) -> bool:
    if spec.kind != params.kind:
        return False
    if spec.kind == "flight":
        assert params.origin and params.destination
        return (spec.place["origin"] in airports(params.origin)
                and spec.place["destination"] in airports(params.destination))
    return spec.place["city"] == params.city


def reference(specs: list[Spec], params: SearchParams) -> list[Result]:
    """Every result of `params`, in order, by looking at every row of the catalog."""
    if params.kind == "hotel":
        assert params.check_in and params.check_out
        dates = [params.check_in + timedelta(days=i) for i in range((params.check_out - params.check_in).days)]
    else:
        assert params.date
        dates = [params.date]
    results = []
    for spec in specs:
        if not _in_place(spec, params):
            continue
        if any(day not in spec.rows for day in dates):
            continue
        found = [spec.rows[day] for day in dates]
        if any(row.available < params.quantity for row in found):
            continue
        currencies = {row.currency for row in found}
        if len(currencies) != 1:
            continue
        currency = currencies.pop()
        total = sum(row.price for row in found) * params.quantity
        if params.max_price is not None and total > params.max_price:
            continue
        if params.currency is not None and currency != params.currency:
            continue
        results.append(Result(spec.listing_id, total, min(row.available for row in found), currency,
                              rating_average(spec.rating_sum, spec.rating_count), spec.rating_count))
    if params.sort == "rating":
        return sorted(results, key=lambda r: (0 if r.rating is not None else 1, -(r.rating or 0),
                                              -r.rating_count, r.listing_id))
    return sorted(results, key=lambda r: (r.price_total, r.listing_id))


def walk(params: SearchParams, limit: int, expected: int) -> list[list[Result]]:
    """Every page of the search, following next_cursor until it is None."""
    pages: list[list[Result]] = []
    cursor: str | None = None
    while True:
        offers, cursor = search_module.search(params, limit=limit, cursor=cursor)
        pages.append([Result(o.listing_id, o.price_total, o.available, o.currency, o.rating, o.rating_count)
                      for o in offers])
        if cursor is None:
            return pages
        # Every page but the last holds a result, so this many means a walk that never ends.
        assert len(pages) <= expected, f"more pages than results: {pages}"


def assert_matches_reference(specs: list[Spec], params: SearchParams, limit: int) -> None:
    expected = reference(specs, params)
    pages = walk(params, limit, len(expected))
    got = [result for page in pages for result in page]
    ids = [result.listing_id for result in got]
    assert len(ids) == len(set(ids)), f"a listing came twice: {pages}"
    assert got == expected, f"pages {pages}"
    assert all(len(page) == limit for page in pages[:-1]), f"a page short of the limit before the last: {pages}"
    assert len(pages[-1]) <= limit, pages
    for page in pages:
        assert page or (len(pages) == 1 and not expected), f"an empty page: {pages}"


def _describe(specs: list[Spec], params: SearchParams, limit: int) -> None:
    """The example, printed if it fails, and what it exercises (--hypothesis-show-statistics)."""
    note(f"search {params} limit={limit}")
    for spec in specs:
        days = {d.isoformat(): (r.available, r.price, r.currency) for d, r in sorted(spec.rows.items())}
        note(f"  {spec.listing_id} {spec.kind} {spec.place} rating={spec.rating_sum}/{spec.rating_count}"
             f" (available, price, currency) by date: {days}")
    expected = reference(specs, params)
    pages = -(-len(expected) // limit)
    event(f"pages: {'none' if not pages else 'one' if pages == 1 else 'several'}")
    if len({r.price_total for r in expected}) < len(expected):
        event("results tie on price_total")
    if params.sort == "rating" and len({(r.rating, r.rating_count) for r in expected if r.rating}) < \
            len([r for r in expected if r.rating]):
        event("rated results tie on average and count")


@contextmanager
def _catalog(case: Case) -> Iterator[tuple[list[Spec], SearchParams]]:
    """The case's catalog, written in a place and at dates of its own, and the search of it."""
    n = next(_examples)
    first = START + timedelta(days=10 * (n // 676))  # a new round of place codes, new dates
    tag = f"lst_{n:05d}x"  # fixed width: ids of one example order as their drawn suffixes

    def spec(draft: Draft, kind: str, place: dict[str, str]) -> Spec:
        return Spec(tag + draft.suffix, kind, place, draft.currency, *draft.rating,
                    rows={first + timedelta(days=o): row for o, row in draft.rows.items()})

    if case.kind == "flight":
        place = {"origin": _code("X", n), "destination": _code("Z", n)}
        decoys = [("flight", {"origin": place["destination"], "destination": place["origin"]}),
                  ("flight", {"origin": place["origin"], "destination": _code("Q", n)})]
    else:
        place = {"city": _code("Q", n)}
        decoys = [(kind, place) for kind in ("hotel", "event", "service") if kind != case.kind]
    specs = [spec(d, case.kind, place) for d in case.listings]
    # Listings elsewhere or of another kind, on sale on every date: never a result.
    everywhere = {o: Row(50, 0, 0, 0, "EUR") for o in range(-1, 5)}
    specs += [spec(Draft(f"decoy{i}", "EUR", (5, 1), everywhere), kind, decoy_place)
              for i, (kind, decoy_place) in enumerate(decoys)]
    _write(specs)

    dates = [first + timedelta(days=o) for o in case.search_offsets]
    common = dict(kind=case.kind, quantity=case.quantity, max_price=case.max_price,
                  currency=case.currency, sort=case.sort)
    if case.kind == "hotel":
        params = SearchParams(city=place["city"], check_in=dates[0], check_out=dates[-1] + timedelta(days=1),
                              **common)
        assert nights(params.check_in, params.check_out) == dates  # type: ignore[arg-type]
    elif case.kind == "flight":
        params = SearchParams(origin=place["origin"], destination=place["destination"], date=dates[0], **common)
    else:
        params = SearchParams(city=place["city"], date=dates[0], **common)
    try:
        yield specs, params
    finally:
        _delete(specs)


# --- the properties --------------------------------------------------------------------------

@settings(max_examples=40, **SETTINGS)
@given(case=hotel_cases(sort="price"))
def test_hotel_search_by_price_matches_the_reference(aws_env, case):
    with _catalog(case) as (specs, params):
        _describe(specs, params, case.limit)
        assert_matches_reference(specs, params, case.limit)


@settings(max_examples=30, **SETTINGS)
@given(case=hotel_cases(sort="rating"))
def test_hotel_search_by_rating_matches_the_reference(aws_env, case):
    with _catalog(case) as (specs, params):
        _describe(specs, params, case.limit)
        assert_matches_reference(specs, params, case.limit)


@settings(max_examples=30, **SETTINGS)
@given(case=single_date_cases())
def test_single_date_search_matches_the_reference(aws_env, case):
    with _catalog(case) as (specs, params):
        _describe(specs, params, case.limit)
        assert_matches_reference(specs, params, case.limit)


def test_flight_search_between_city_codes_matches_the_reference(aws_env):
    """PAR stands for CDG, ORY and BVA and NYC for JFK, EWR and LGA: one result list across the
    airport pairs' partitions, with ties on price and rating between partitions."""
    day = START + timedelta(days=3)

    def flight(suffix: str, origin: str, destination: str, price: int, *, available: int = 9,
               currency: str = "EUR", rating: tuple[int, int] = (0, 0), on: date = day) -> Spec:
        return Spec(f"lst_city{suffix}", "flight", {"origin": origin, "destination": destination},
                    currency, *rating, rows={on: Row(available + 1, 1, 0, price, currency)})

    specs = [
        flight("A", "CDG", "JFK", 100, rating=(9, 2)),
        flight("b", "ORY", "EWR", 100, rating=(9, 2)),
        flight("C", "BVA", "LGA", 100, rating=(4, 1)),
        flight("d", "CDG", "EWR", 250, available=1, rating=(14, 3)),
        flight("E", "ORY", "JFK", 100, currency="USD", rating=(5, 1)),
        flight("f", "BVA", "JFK", 0),
        flight("G", "CDG", "LGA", 999, available=0, rating=(5, 1)),  # sold out
        flight("h", "ORY", "LGA", 250, rating=(8, 2)),
        flight("I", "CDG", "JFK", 250),
        flight("j", "CDG", "JFK", 5000, rating=(10, 2)),
        # Never results of PAR -> NYC: other cities, the way back, within PAR, another date.
        flight("K", "LHR", "JFK", 0, rating=(5, 1)),
        flight("l", "CDG", "LIS", 0),
        flight("M", "JFK", "CDG", 0),
        flight("n", "CDG", "ORY", 0),
        flight("O", "ORY", "JFK", 0, on=day + timedelta(days=1)),
    ]
    _write(specs)
    # The reference itself, first: the airport pairs at 100 tie and go by id ('A' < 'C' < 'E' < 'b').
    cheapest = reference(specs, SearchParams(kind="flight", origin="PAR", destination="NYC", date=day,
                                             max_price=100))
    assert [r.listing_id for r in cheapest] == ["lst_cityf", "lst_cityA", "lst_cityC", "lst_cityE",
                                                "lst_cityb"]

    searches = [("PAR", "NYC", 1, None, 1), ("PAR", "NYC", 2, None, 3), ("PAR", "NYC", 1, "EUR", 2),
                ("CDG", "NYC", 1, None, 2), ("PAR", "JFK", 2, None, 2), ("ORY", "EWR", 1, None, 1)]
    for origin, destination, quantity, currency, limit in searches:
        for sort in ("price", "rating"):
            params = SearchParams(kind="flight", origin=origin, destination=destination, date=day,
                                  quantity=quantity, currency=currency, sort=sort)
            assert_matches_reference(specs, params, limit)
