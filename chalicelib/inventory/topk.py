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

Rating order is the same idea on one list: listings in rating-group order (inventory.domain
.rating_group), each group ordered by price, so a group's offers are certain once the list has
moved past the group.

Deeper pages continue: the state (where each list stopped, the offers seen but not yet shown,
and the last key shown) goes into the cursor, so page 5 reads about what page 1 reads. A
listing an earlier page met is either shown (its key is not after the last key shown), waiting
(in the state), or not an offer; meeting it again on another date's list changes nothing. When
the offers waiting would make the cursor too long, the state is dropped and the next page
starts the lists again after the last key shown (correct, slower).

Pure: the reads are a `Store`; search_reads.py implements it on DynamoDB.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

FIRST_CHUNK_MIN = 10
MAX_CHUNK = 400  # rows per list per round: a Query answers at most 1 MB anyway


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
    group: str = ""  # rating order: the listing's rating group (empty under price order)

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
    pending: list[Candidate] = field(default_factory=list)  # seen, complete, not yet shown
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
    seen: set[str] = {c.listing_id for c in state.pending}

    def certainty() -> tuple[Callable[[Candidate], bool], bool]:
        """Cheaper than the threshold: the least unit total of a listing not yet seen."""
        total = 0
        for streams in by_date.values():
            open_ = [s for s in streams if not s.done]
            if not open_:
                return _never, True  # a date read to its end: an unseen listing misses it
            total += min(price_rank_value(s.position) if s.position else 0 for s in open_)
        if query.max_unit_total is not None and total > query.max_unit_total:
            return _never, True  # nothing unseen fits the budget
        return (lambda c: c.unit_total < total), False

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

    return _walk(query, state, certainty, read_round)


def _usable(row: Row, query: Query) -> bool:
    return row.available >= query.quantity and (query.currency is None or row.currency == query.currency)


def best_rated(query: Query, state: State, store: Store, parallel: Map) -> tuple[list[Candidate], State | None]:
    """The page of offers in rating order (best group first, each group by price) after `state`.

    The rating index holds each listing once, so the lists' positions alone tell what earlier
    pages met. A group's offers are certain once every list has moved past the group.
    """
    from .domain import rank_group

    def certainty() -> tuple[Callable[[Candidate], bool], bool]:
        """In a better group than any listing not yet read can be in."""
        open_ = [s for s in state.streams if not s.done]
        if not open_:
            return _never, True
        if any(s.position is None for s in open_):
            return _never, False  # a list not started: anything can come
        least = min(rank_group(s.position) for s in open_ if s.position is not None)
        return (lambda c: c.group < least), False

    def read_round(chunk: int, pending: dict[str, Candidate]) -> None:
        groups = {rank.rsplit("#", 1)[1]: rank_group(rank)
                  for ranks in _advance(state, lambda s: store.listings(s, chunk), parallel) for rank in ranks}
        rows: dict[str, dict[str, Row]] = {listing_id: {} for listing_id in groups}
        keys = [(i, d) for i in groups for d in query.dates]
        for row in store.rows(keys) if keys else ():
            rows[row.listing_id][row.date] = row
        _add_offers(rows, groups, query, state, pending)

    return _walk(query, state, certainty, read_round)


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


def _walk(query: Query, state: State, certainty: Callable[[], tuple[Callable[[Candidate], bool], bool]],
          read_round: Callable[[int, dict[str, Candidate]], None]) -> tuple[list[Candidate], State | None]:
    """Read rounds of growing chunks until the page is certain and a next page is known."""
    pending = {c.listing_id: c for c in state.pending}
    chunk = max(FIRST_CHUNK_MIN, query.limit + 1)
    while True:
        certain, exhausted = certainty()
        done = _page(pending, query.limit, certain, exhausted)
        if done is not None:
            break
        read_round(chunk, pending)
        chunk = min(chunk * 2, MAX_CHUNK)
    page, more = done
    for c in page:
        del pending[c.listing_id]
    if not more:
        return page, None
    return page, State(state.streams, sorted(pending.values(), key=lambda c: c.key), page[-1].key)
