"""Search: a page costs what it shows, not what the city holds.

Availability rows carry `search_key = kind#place#date` and `search_rank = price#listing_id`:
the search index (models.SearchIndex) keeps each date's offers of a place cheapest first, and
the rating index (models.RatingIndex) each place's listings best rated first. A search reads
those lists in order, a chunk at a time, and stops as soon as its page is certain (topk.py: the
Threshold Algorithm of Fagin, Lotem and Naor). The budget (`max_price`) ends each date's list
early, in the key condition; quantity and currency are checked on the rows as they come.

Pagination is by state, not by offset: the cursor records where each list stopped and the
listings already met but not yet shown (read again before a page shows them, so what changed
in between shows), signed and bound to the search's parameters, so page 5 continues where page 4
stopped, and walking the pages never repeats or skips a listing. The page's listings (title,
vendor, rating) are read once for the page (one BatchGetItem), and only what a result shows of
them (LISTING_ATTRIBUTES): an offer's `listing` is not the whole item.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..core import clock, pagination
from ..core.errors import ValidationError
from . import domain, topk
from .models import Listing
from .search_reads import IndexStore
from .search_rules import Offer, SearchParams

SCOPE = "search"
# A cursor's state is trusted this long. Past it, the next page starts the lists again after
# the last key shown: a listing whose price fell behind where a list stopped is met again.
STATE_MAX_AGE_SECONDS = 60
PARALLEL_QUERIES = 8  # per search: well within botocore's pool of 10 connections per client
# What a result shows of its listing (shapes.search_result, search_plain): the page's read asks
# for nothing else, so neither DynamoDB nor the parsing pays for descriptions and policies.
LISTING_ATTRIBUTES = ("listing_id", "kind", "title", "vendor_id", "city", "origin", "destination", "rating_sum",
                      "rating_count")


def search(params: SearchParams, *, limit: int, cursor: str | None) -> tuple[list[Offer], str | None]:
    """The page of offers for `params` after `cursor`, and the next cursor (None at the end)."""
    try:
        params.validate(domain.earliest_today(domain.utc_now()))
    except domain.FieldErrors as exc:
        raise ValidationError.for_fields(exc.fields) from None
    fingerprint = params.fingerprint()
    state = _state(params, cursor, fingerprint)
    query = topk.Query(dates=[d.isoformat() for d in params.dates], quantity=params.quantity, limit=limit,
                       currency=params.currency, max_unit_total=params.max_unit_total())
    walk = topk.best_rated if params.sort == "rating" else topk.cheapest
    page, after = walk(query, state, IndexStore(query.max_unit_total), _parallel)
    offers = _with_listings([Offer(c.listing_id, c.available, c.unit_total, c.currency, params.quantity)
                             for c in page])
    return offers, (_cursor(after, fingerprint) if after is not None else None)


def _streams(params: SearchParams) -> list[topk.Stream]:
    if params.sort == "rating":
        return [topk.Stream(key, "") for key in params.place_keys()]
    return [topk.Stream(key, day.isoformat())
            for day, keys in zip(params.dates, params.partition_groups()) for key in keys]


def _state(params: SearchParams, cursor: str | None, fingerprint: str) -> topk.State:
    """A fresh walk, or the walk a cursor continues."""
    streams = _streams(params)
    if not cursor:
        return topk.State(streams)
    payload = pagination.decode(cursor, scope=SCOPE)
    if payload.get("f") != fingerprint:
        raise pagination.invalid_cursor("belongs to a different search; start again without it")
    try:
        positions, waiting, after = payload["s"], payload["p"], payload["a"]
        if clock.now() - float(payload["t"]) > STATE_MAX_AGE_SECONDS:
            positions, waiting = None, []
        if positions is not None:  # else: the lists start again after the last key shown
            if len(positions) != len(streams):
                raise ValueError
            for stream, (position, done) in zip(streams, positions):
                stream.position, stream.done = (str(position) if position is not None else None), bool(done)
        group, total, listing_id = after
        return topk.State(streams, [(str(i), int(t), str(g)) for i, t, g in waiting],
                          (str(group), int(total), str(listing_id)))
    except (KeyError, TypeError, ValueError):  # signed by us, so only an older cursor format
        raise pagination.invalid_cursor() from None


def _cursor(state: topk.State, fingerprint: str) -> str:
    positions = [[s.position, s.done] for s in state.streams]
    issued = int(clock.now())
    token = pagination.encode({"f": fingerprint, "s": positions, "p": [list(w) for w in state.waiting],
                               "a": list(state.after or ()), "t": issued}, scope=SCOPE)
    if len(token) <= pagination.MAX_CURSOR_LENGTH:
        return token
    # Too many offers waiting to fit: the next page starts the lists again after the last key
    # shown. Correct, and only as costly as the pages before it.
    return pagination.encode({"f": fingerprint, "s": None, "p": [], "a": list(state.after or ()), "t": issued},
                             scope=SCOPE)


def _parallel(read: topk.Read, streams: list[topk.Stream]) -> list[tuple[list[Any], str | None]]:
    """Reads the streams at once: a stay's nights, or a flight's airport pairs."""
    if len(streams) == 1:
        return [read(streams[0])]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_QUERIES, len(streams))) as pool:
        return list(pool.map(read, streams))


def _with_listings(offers: list[Offer]) -> list[Offer]:
    """Attach each offer's listing (LISTING_ATTRIBUTES of it) with batched reads."""
    if offers:
        found = {lst.listing_id: lst for lst in Listing.batch_get([o.listing_id for o in offers],
                                                                   attributes_to_get=list(LISTING_ATTRIBUTES))}
        for offer in offers:
            listing = found.get(offer.listing_id)
            if listing is not None:
                offer.listing = listing
                offer.rating_sum = float(listing.rating_sum or 0)
                offer.rating_count = int(listing.rating_count or 0)
    return [o for o in offers if o.listing is not None]
