"""A search page without reading the city: top-k over lists read in order.

Each date of a search has its offers in price order in the search index (one partition per
date; a flight between city codes has one per airport pair), and each place its listings in
rating order in the rating index. A stay's price is the sum of its dates' prices, and a
listing is a result only if it has the units on every date. So a page is a top-k query over
sorted lists, and the answer is the Threshold Algorithm (Fagin, Lotem and Naor, "Optimal
aggregation algorithms for middleware", J. Comput. Syst. Sci. 66 (2003); PODS 2001):

- read every date's list in sorted order, a chunk per round, all lists in parallel;
- fetch each newly seen listing's other dates by random access (one batched read per round),
  so every listing seen is either a complete offer or known not to be one;
- stop when the page is certain: its last offer is cheaper than the threshold, the sum over
  dates of the last price read (every listing not yet seen costs at least that), and one more
  offer is known, so a next page exists (or every list is read to its end).

Rating order is simpler: the rating index's order is the result order (best rating group first,
inventory.domain.rating_group, ties on the listing id), so listings are read in order, their
dates checked by random access, until the page is full.

Deeper pages continue: the state (where each list stopped, the listings met but not yet shown,
and the last key shown) goes into the cursor, so page 5 reads about what page 1 reads. A
waiting listing is read again before a page shows it, so a sale or a new price in between shows. A
listing an earlier page met is either shown (its key is not after the last key shown), waiting,
or not an offer; meeting it again on another date's list changes nothing. When the listings
waiting would make the cursor too long, the state is dropped and the next page starts the lists
again after the last key shown (correct, slower).

Pure: the reads are a `Store`; search_reads.py implements it on DynamoDB.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

FIRST_CHUNK_MIN = 10
MAX_CHUNK = 100  # rows per list per round: more would mostly fill the cursor with offers for later


@dataclass(frozen=True)
class Row:
    """One listing's offer on one date (from the search index or the table)."""
    listing_id: str
    date: str
    available: int
    price: int
    currency: str


@dataclass(frozen=True)
class Candidate:
    """A listing with the units on every date: a result, in order of `key`."""
    listing_id: str
    unit_total: int  # sum of the dates' unit prices
    available: int  # the fewest units over the dates
    currency: str
    group: str = ""  # rating order: the listing's rating rank (empty under price order)
    fresh: bool = True  # False: met on an earlier page, read again before it is shown

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.group, self.unit_total, self.listing_id)


@dataclass
class Stream:
    """One sorted list: a partition of an index, read in chunks."""
    key: str  # the partition (a search key, or a place key for the rating index)
    date: str  # the date whose offers it holds ("" for the rating index)
    position: str | None = None  # sort key of the last item read; None = not started
    done: bool = False


class Store(Protocol):
    def offers(self, stream: Stream, limit: int) -> tuple[list[Row], str | None]:
        """The next `limit` rows of a date's price-ordered list after its position, and the
        sort key of the last one read (None when the list has nothing after them)."""

    def listings(self, stream: Stream, limit: int) -> tuple[list[str], str | None]:
        """The next `limit` sort keys of a place's rating-ordered list after its position, and
        the last one read (None when the list has nothing after them)."""

    def rows(self, keys: Sequence[tuple[str, str]]) -> list[Row]:
        """Random access: the rows that exist among these (listing_id, date) keys."""


Read = Callable[[Stream], tuple[list, str | None]]
Map = Callable[[Read, list[Stream]], list[tuple[list, str | None]]]


@dataclass
class Query:
    dates: list[str]
    quantity: int
    limit: int
    currency: str | None = None
    max_unit_total: int | None = None  # the budget per unit, summed over the dates


@dataclass
class State:
    """Where a walk through the pages stands; what a cursor carries."""
    streams: list[Stream]
    # (listing_id, unit_total, group) of the offers met but not yet shown, as they were then
    waiting: list[tuple[str, int, str]] = field(default_factory=list)
    after: tuple[str, int, str] | None = None  # the last key shown (restart mode only needs it)


def _offer(rows: dict[str, Row], query: Query, group: str) -> Candidate | None:
    """The candidate of one listing from its rows of every date, or None if it is not one."""
    if len(rows) != len(query.dates):
        return None
    currencies = {r.currency for r in rows.values()}
    if len(currencies) != 1 or any(r.available < query.quantity for r in rows.values()):
        return None
    currency = currencies.pop()
    if query.currency is not None and currency != query.currency:
        return None
    total = sum(r.price for r in rows.values())
    if query.max_unit_total is not None and total > query.max_unit_total:
        return None
    any_row = next(iter(rows.values()))
    return Candidate(any_row.listing_id, total, min(r.available for r in rows.values()), currency, group)


def _page(pending: dict[str, Candidate], limit: int, certain: Callable[[Candidate], bool],
          exhausted: bool) -> tuple[list[Candidate], bool] | None:
    """(page, more) once the page is certain and whether a next page exists is known."""
    ordered = sorted(pending.values(), key=lambda c: c.key)
    if exhausted:
        return ordered[:limit], len(ordered) > limit
    if len(ordered) > limit and certain(ordered[limit - 1]):
        return ordered[:limit], True
    return None


def price_rank_value(rank: str) -> int:
    """The price at the head of a search_rank (inventory.domain.search_rank)."""
    return int(rank.split("#", 1)[0])


def cheapest(query: Query, state: State, store: Store, parallel: Map) -> tuple[list[Candidate], State | None]:
    """The page of the cheapest offers after `state`, and the state after it (None: last page)."""
    by_date: dict[str, list[Stream]] = {}
    for stream in state.streams:
        by_date.setdefault(stream.date, []).append(stream)
    seen: set[str] = {listing_id for listing_id, _, _ in state.waiting}

    def certainty() -> tuple[Callable[[Candidate], bool], bool]:
        """Before any listing not yet seen. On each date such a listing lies after where the
        date's lists stand, at (price, id) > the least position: it costs at least the sum of
        those prices, and if exactly that, its id follows every one of those positions' ids."""
        total, ids = 0, [""]
        for streams in by_date.values():
            open_ = [s for s in streams if not s.done]
            if not open_:
                return _never, True  # a date read to its end: an unseen listing misses it
            if any(s.position is None for s in open_):
                continue  # a list not started: price 0 and any id can come
            least = min(s.position for s in open_ if s.position is not None)
            total += price_rank_value(least)
            ids.append(least.split("#", 1)[1])
        if query.max_unit_total is not None and total > query.max_unit_total:
            return _never, True  # nothing unseen fits the budget
        tie = max(ids)
        return (lambda c: c.unit_total < total or (c.unit_total == total and c.listing_id <= tie)), False

    def read_round(chunk: int, pending: dict[str, Candidate]) -> None:
        found: dict[str, dict[str, Row]] = {}
        for rows in _advance(state, lambda s: store.offers(s, chunk), parallel):
            for row in rows:
                if row.listing_id not in seen:
                    found.setdefault(row.listing_id, {})[row.date] = row
        seen.update(found)
        # A row short of units (or in another currency) settles its listing without a read.
        alive = {i: r for i, r in found.items() if all(_usable(row, query) for row in r.values())}
        missing = [(i, d) for i, r in alive.items() for d in query.dates if d not in r]
        for row in store.rows(missing) if missing else ():
            alive[row.listing_id][row.date] = row
        _add_offers(alive, {}, query, state, pending)

    return _walk(query, state, certainty, read_round, store)


def _usable(row: Row, query: Query) -> bool:
    return row.available >= query.quantity and (query.currency is None or row.currency == query.currency)


def best_rated(query: Query, state: State, store: Store, parallel: Map) -> tuple[list[Candidate], State | None]:
    """The page of offers in rating order after `state`: the rating index's order (best rating
    group first, ties on the listing id), so an offer is certain as soon as it is read.

    Reading stops when the page is full: a city of unrated listings costs a page, not the city.
    (Ordering a rating group by price would need the whole group first, and the unrated group
    is most of a young catalog.) `Candidate.group` holds the listing's full rating rank.
    """
    def certainty() -> tuple[Callable[[Candidate], bool], bool]:
        """Not after where the lists stand: every listing not yet read comes after."""
        open_ = [s for s in state.streams if not s.done]
        if not open_:
            return _never, True
        if any(s.position is None for s in open_):
            return _never, False  # a list not started: anything can come
        least = min(s.position for s in open_ if s.position is not None)
        return (lambda c: c.group <= least), False

    def read_round(chunk: int, pending: dict[str, Candidate]) -> None:
        ranks = {rank.rsplit("#", 1)[1]: rank
                 for found in _advance(state, lambda s: store.listings(s, chunk), parallel) for rank in found}
        _add_offers(_rows(store, list(ranks), query), ranks, query, state, pending)

    return _walk(query, state, certainty, read_round, store)


def _never(candidate: Candidate) -> bool:
    return False


def _advance(state: State, read: Read, parallel: Map) -> list[list]:
    """One chunk from every list not read to its end; each list's position moves past it."""
    open_streams = [s for s in state.streams if not s.done]
    chunks = []
    for stream, (items, last) in zip(open_streams, parallel(read, open_streams)):
        stream.position, stream.done = (last or stream.position), last is None
        chunks.append(items)
    return chunks


def _add_offers(rows: dict[str, dict[str, Row]], groups: dict[str, str], query: Query, state: State,
                pending: dict[str, Candidate]) -> None:
    """The listings whose rows make an offer join the offers waiting (not one already shown)."""
    for listing_id, rows_by_date in rows.items():
        offer = _offer(rows_by_date, query, groups.get(listing_id, ""))
        if offer is not None and (state.after is None or offer.key > state.after):
            pending[listing_id] = offer


def _rows(store: Store, listing_ids: list[str], query: Query) -> dict[str, dict[str, Row]]:
    rows: dict[str, dict[str, Row]] = {listing_id: {} for listing_id in listing_ids}
    keys = [(i, d) for i in listing_ids for d in query.dates]
    for row in store.rows(keys) if keys else ():
        rows[row.listing_id][row.date] = row
    return rows


def _walk(query: Query, state: State, certainty: Callable[[], tuple[Callable[[Candidate], bool], bool]],
          read_round: Callable[[int, dict[str, Candidate]], None], store: Store) -> tuple[list[Candidate], State | None]:
    """Read rounds of growing chunks until the page is certain and a next page is known.

    The offers waiting from an earlier page are read again when they are about to be shown
    (one batched read for the page): what a vendor or a traveler changed since (sold out, a
    new price) shows, and a waiting offer that is no longer one leaves the page.
    """
    pending = {i: Candidate(i, total, 0, "", group, fresh=False) for i, total, group in state.waiting}
    chunk = max(FIRST_CHUNK_MIN, query.limit + 1)
    while True:
        certain, exhausted = certainty()
        done = _page(pending, query.limit, certain, exhausted)
        if done is not None:
            stale = [c for c in done[0] if not c.fresh]
            if not stale:
                break
            for c in stale:
                del pending[c.listing_id]
            groups = {c.listing_id: c.group for c in stale}
            _add_offers(_rows(store, list(groups), query), groups, query, state, pending)
            continue
        read_round(chunk, pending)
        chunk = min(chunk * 2, MAX_CHUNK)
    page, more = done
    for c in page:
        del pending[c.listing_id]
    if not more:
        return page, None
    waiting = [(c.listing_id, c.unit_total, c.group) for c in sorted(pending.values(), key=lambda c: c.key)]
    return page, State(state.streams, waiting, page[-1].key)
