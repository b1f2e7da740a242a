"""topk: the early-stopping search against brute force, on an in-memory store that answers as
DynamoDB does (sorted partitions, Limit, LastEvaluatedKey, the budget's key condition).

Many random catalogs, every page walked through its state, including states that had to be
dropped (the cursor's restart mode): the pages must be the brute-force order, cut in pages.
The integration twin (tests/integration/test_search_reference.py) runs the real search on the
emulator; this one runs hundreds of catalogs in seconds and counts what each page reads.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.inventory import topk
from chalicelib.inventory.domain import price_prefix, rank_group, rating_average, rating_group, rating_rank, \
    search_rank

DATES = ["2027-03-01", "2027-03-02", "2027-03-03", "2027-03-04"]


@dataclass
class FakeStore:
    """Price lists per date and a rating list, with DynamoDB's reading rules."""
    data: dict[tuple[str, str], topk.Row]  # (listing_id, date) -> row
    ratings: dict[str, tuple[int, int]]  # listing_id -> (rating_sum, rating_count)
    max_unit_total: int | None = None
    items_read: int = 0
    requests: int = 0
    _lists: dict[str, list[tuple[str, topk.Row | None]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for (listing_id, date), row in self.data.items():
            self._lists.setdefault(date, []).append((search_rank(row.price, listing_id), row))
        for listing_id, (total, count) in self.ratings.items():
            self._lists.setdefault("rating", []).append((rating_rank(total, count, listing_id), None))
        for items in self._lists.values():
            items.sort(key=lambda item: item[0])

    def _read(self, key: str, position: str | None, limit: int, below: str | None) -> tuple[list, str | None]:
        self.requests += 1
        items = self._lists.get(key, [])
        if below is not None:
            items = items[:bisect.bisect_left([rank for rank, _ in items], below)]
        start = 0 if position is None else bisect.bisect_right([rank for rank, _ in items], position)
        chunk = items[start:start + limit]
        self.items_read += len(chunk)
        more = start + limit < len(items) or len(chunk) == limit  # DynamoDB: a full page has a key
        return chunk, (chunk[-1][0] if chunk and more else None)

    def offers(self, stream: topk.Stream, limit: int) -> tuple[list[topk.Row], str | None]:
        below = None if self.max_unit_total is None else price_prefix(self.max_unit_total + 1)
        chunk, last = self._read(stream.date, stream.position, limit, below)
        return [row for _, row in chunk], last

    def listings(self, stream: topk.Stream, limit: int) -> tuple[list[str], str | None]:
        chunk, last = self._read("rating", stream.position, limit, None)
        return [rank for rank, _ in chunk], last

    def rows(self, keys):
        self.requests += 1
        found = [self.data[k] for k in keys if k in self.data]
        self.items_read += len(found)
        return found


def serial(read, streams):
    return [read(s) for s in streams]


@st.composite
def catalogs(draw):
    nights = draw(st.integers(1, 4))
    dates = DATES[:nights]
    listings = [f"lst_{n:03d}" for n in range(draw(st.integers(0, 30)))]
    rows = {}
    for listing_id in listings:
        currency = draw(st.sampled_from(["EUR", "EUR", "EUR", "USD"]))
        base = draw(st.sampled_from([0, 100, 100, 250, 999, 5000]))
        for date in dates:
            if draw(st.integers(0, 9)) == 0:
                continue  # not on sale that night
            price = base + draw(st.sampled_from([0, 0, 0, 1, 50]))
            rows[listing_id, date] = topk.Row(listing_id, date, draw(st.integers(0, 4)), price, currency)
    ratings = {}
    for listing_id in listings:
        count = draw(st.sampled_from([0, 0, 1, 2, 3]))
        ratings[listing_id] = (sum(draw(st.lists(st.integers(1, 5), min_size=count, max_size=count))), count)
    query = topk.Query(dates=dates, quantity=draw(st.integers(1, 3)), limit=draw(st.integers(1, 7)),
                       currency=draw(st.sampled_from([None, None, "EUR"])),
                       max_unit_total=draw(st.sampled_from([None, None, 300, 1500])))
    return listings, rows, ratings, query


def brute_force(listings, rows, ratings, query, sort):
    results = []
    for listing_id in listings:
        mine = [rows.get((listing_id, d)) for d in query.dates]
        if any(r is None or r.available < query.quantity for r in mine) or len({r.currency for r in mine}) != 1:
            continue
        total = sum(r.price for r in mine)
        if query.currency is not None and mine[0].currency != query.currency:
            continue
        if query.max_unit_total is not None and total > query.max_unit_total:
            continue
        total_, count = ratings[listing_id]
        average = rating_average(total_, count)
        key = ((0 if average is not None else 1, -(average or 0), -count, listing_id) if sort == "rating"
               else (total, listing_id))
        results.append((key, listing_id))
    return [listing_id for _, listing_id in sorted(results)]


# Small chunks make many rounds and many pages out of small catalogs: every stopping rule and
# every continuation is exercised, not only "read it all at once".
chunk_sizes = st.sampled_from([(1, 1), (1, 3), (2, 4), (10, 400)])


def walk(store, query, sort, drop_state_every=0, chunks=(10, 400)):
    with mock.patch.object(topk, "FIRST_CHUNK_MIN", chunks[0]), mock.patch.object(topk, "MAX_CHUNK", chunks[1]):
        return _walk(store, query, sort, drop_state_every)


def _walk(store, query, sort, drop_state_every):
    walk_ = topk.best_rated if sort == "rating" else topk.cheapest
    fresh = [topk.Stream("rating", "")] if sort == "rating" else [topk.Stream(d, d) for d in query.dates]
    state, shown, pages = topk.State(fresh), [], 0
    while True:
        page, state = walk_(query, state, store, serial)
        pages += 1
        assert len(page) <= query.limit
        assert page or pages == 1, "an empty page after a cursor"
        shown += [c.listing_id for c in page]
        if state is None:
            return shown
        assert len(page) == query.limit
        if drop_state_every and pages % drop_state_every == 0:  # the cursor's restart mode
            state = topk.State([topk.Stream(s.key, s.date) for s in state.streams], [], state.after)


@settings(max_examples=250, deadline=None)
@given(catalogs(), chunk_sizes)
def test_price_order_pages_are_the_brute_force_order(catalog, chunks):
    listings, rows, ratings, query = catalog
    store = FakeStore(rows, ratings, query.max_unit_total)
    assert walk(store, query, "price", chunks=chunks) == brute_force(listings, rows, ratings, query, "price")


@settings(max_examples=250, deadline=None)
@given(catalogs(), chunk_sizes)
def test_rating_order_pages_are_the_brute_force_order(catalog, chunks):
    listings, rows, ratings, query = catalog
    store = FakeStore(rows, ratings, query.max_unit_total)
    assert walk(store, query, "rating", chunks=chunks) == brute_force(listings, rows, ratings, query, "rating")


@settings(max_examples=150, deadline=None)
@given(catalogs(), st.sampled_from(["price", "rating"]), st.integers(1, 2), chunk_sizes)
def test_pages_after_a_dropped_state_continue_without_repeats_or_gaps(catalog, sort, every, chunks):
    listings, rows, ratings, query = catalog
    store = FakeStore(rows, ratings, query.max_unit_total)
    assert walk(store, query, sort, every, chunks) == brute_force(listings, rows, ratings, query, sort)


def test_an_offer_at_the_threshold_waits_for_an_unseen_one_that_ties_with_a_smaller_id():
    """B (200 + 200) is unread on both nights when A and C, also 400, are known and the
    threshold is 200 + 200: B can still come before C, so C is not certain."""
    d1, d2 = DATES[:2]
    prices = {"lst_a": (200, 200), "lst_a2": (1000, 200), "lst_b": (200, 200), "lst_c": (100, 300)}
    rows = {(i, d): topk.Row(i, d, 1, p, "EUR") for i, ps in prices.items() for d, p in zip((d1, d2), ps)}
    store = FakeStore(rows, {i: (0, 0) for i in prices})
    query = topk.Query(dates=[d1, d2], quantity=1, limit=1)
    assert walk(store, query, "price", chunks=(1, 1)) == ["lst_a", "lst_b", "lst_c", "lst_a2"]


def _dense(hotels: int, nights: int = 3):
    """A city of hotels whose nights cost about the same (a cheap hotel is cheap every night)."""
    rows, ratings = {}, {}
    for n in range(hotels):
        listing_id = f"lst_{n:05d}"
        base = 5000 + (n * 7919) % 50000
        for i, date in enumerate(DATES[:nights]):
            rows[listing_id, date] = topk.Row(listing_id, date, 0 if (n + i) % 23 == 0 else 5,
                                              base + (n * 31 + i * 17) % 800, "EUR")
        ratings[listing_id] = (0, 0) if n % 7 == 0 else ((n % 5 + 1) * (n % 40 + 1), n % 40 + 1)
    return rows, ratings


def _items_per_page(hotels: int, sort: str, pages: int) -> list[int]:
    rows, ratings = _dense(hotels)
    store = FakeStore(rows, ratings)
    query = topk.Query(dates=DATES[:3], quantity=1, limit=20)
    walk_ = topk.best_rated if sort == "rating" else topk.cheapest
    fresh = [topk.Stream("rating", "")] if sort == "rating" else [topk.Stream(d, d) for d in DATES[:3]]
    state, read = topk.State(fresh), []
    for _ in range(pages):
        before = store.items_read
        _, state = walk_(query, state, store, serial)
        read.append(store.items_read - before)
    return read


def test_a_price_page_reads_about_the_same_in_a_city_of_5000_as_of_100():
    small, large = _items_per_page(100, "price", 1)[0], _items_per_page(5000, "price", 1)[0]
    assert large <= 3 * small, (small, large)


def test_the_fifth_price_page_reads_about_what_the_first_reads():
    read = _items_per_page(5000, "price", 5)
    assert read[4] <= 1.5 * read[0], read


def test_a_rating_page_reads_about_the_same_in_a_city_of_5000_as_of_100():
    small, large = _items_per_page(100, "rating", 1)[0], _items_per_page(5000, "rating", 1)[0]
    assert large <= 3 * small, (small, large)


def test_rating_groups_sort_best_first():
    groups = [rating_group(s, c) for s, c in [(10, 2), (5, 1), (9, 2), (4, 1), (0, 0)]]
    assert groups == sorted(groups)  # 5.0 (2 reviews), 5.0 (1), 4.5, 4.0, unrated
    assert rank_group(rating_rank(9, 2, "lst_x")) == rating_group(9, 2)
