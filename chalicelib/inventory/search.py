"""Search: one query per date on the search index, never a scan, never a loop over listings.

Availability items carry `search_key = kind#place#date` (a GSI), so a search reads exactly the
partitions of its dates: an event or service search one, a hotel stay one per night, a flight
one per airport pair (one, or up to MAX_AIRPORTS_PER_CITY ** 2 between city codes: `PAR` stands
for CDG, ORY and BVA, see places.py). What it reads grows with the listings on sale there and
then, and not at all with the rest of the catalog (other cities, other dates). Sold-out rows
are dropped by the filter expression, and a hotel is kept only if every night of the stay has
the units.

Results are ordered in memory (a stay's price is a sum over nights, which no index can sort)
and paginated by keyset: the cursor holds the sort key of the last result of the page, signed
and bound to the search's parameters, so walking the pages never repeats or skips a listing.
Listing details are fetched for the page only (one BatchGetItem); sort=rating needs the ratings
of every match, so it fetches them for all matches.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pynamodb.expressions.condition import Condition

from ..core import pagination
from ..core.errors import ValidationError
from . import domain
from .models import AvailabilityDay, Listing
from .search_rules import DayOffer, Offer, SearchParams, combine, page_after, within_budget

SCOPE = "search"
PARALLEL_QUERIES = 8  # per search: well within botocore's pool of 10 connections per client


def search(params: SearchParams, *, limit: int, cursor: str | None) -> tuple[list[Offer], str | None]:
    """The page of offers for `params` after `cursor`, and the next cursor (None at the end)."""
    try:
        params.validate(domain.earliest_today(domain.utc_now()))
    except domain.FieldErrors as exc:
        raise ValidationError.for_fields(exc.fields) from None
    fingerprint = params.fingerprint()
    after = _after(cursor, fingerprint)

    days: list[dict[str, DayOffer]] = []
    for keys in params.partition_groups():
        rows = _partitions(keys, params)
        if not rows:  # one empty night empties the stay: skip the remaining nights
            return [], None
        days.append(rows)
    offers = within_budget(combine(days, params.quantity), params)
    if params.sort == "rating":
        offers = _with_listings(offers)
    try:
        page, last = page_after(offers, params.sort, after, limit)
    except TypeError:  # a key of another shape: cannot come from our own cursors
        raise pagination.invalid_cursor() from None
    if params.sort != "rating":
        page = _with_listings(page)
    next_cursor = pagination.encode({"f": fingerprint, "a": last}, scope=SCOPE) if last else None
    return page, next_cursor


def _after(cursor: str | None, fingerprint: str) -> list[Any] | None:
    if not cursor:
        return None
    payload = pagination.decode(cursor, scope=SCOPE)
    if payload.get("f") != fingerprint or not isinstance(payload.get("a"), list):
        raise pagination.invalid_cursor("belongs to a different search; start again without it")
    return payload["a"]


def _partitions(keys: list[str], params: SearchParams) -> dict[str, DayOffer]:
    """Rows of one date from every partition of its group (a listing is in one partition only).

    A flight between city codes reads one partition per airport pair (at most
    MAX_AIRPORTS_PER_CITY ** 2): the first on this thread, which also sets up the connection
    on a cold start, the others on up to PARALLEL_QUERIES threads, so the answer does not wait
    for the queries one after the other.
    """
    rows = _partition(keys[0], params)
    if len(keys) > 1:
        with ThreadPoolExecutor(max_workers=min(PARALLEL_QUERIES, len(keys) - 1)) as pool:
            for found in pool.map(lambda key: _partition(key, params), keys[1:]):
                rows.update(found)
    return rows


def _partition(key: str, params: SearchParams) -> dict[str, DayOffer]:
    """Rows of one (kind, place, date) with enough units, by listing id."""
    d = AvailabilityDay
    condition: Condition = d.available >= params.quantity
    max_unit = params.max_unit_price()
    if max_unit is not None:
        condition = condition & (d.price <= max_unit)
    if params.currency is not None:
        condition = condition & (d.currency == params.currency)
    return {row.listing_id: DayOffer(row.listing_id, int(row.available), int(row.price), row.currency)
            for row in d.by_search.query(key, filter_condition=condition)}


def _with_listings(offers: list[Offer]) -> list[Offer]:
    """Attach each offer's listing (title, vendor, rating) with batched reads."""
    wanted = [o for o in offers if o.listing is None]
    if wanted:
        found = {lst.listing_id: lst for lst in Listing.batch_get([o.listing_id for o in wanted])}
        for offer in wanted:
            listing = found.get(offer.listing_id)
            if listing is not None:
                offer.listing = listing
                offer.rating_sum = float(listing.rating_sum or 0)
                offer.rating_count = int(listing.rating_count or 0)
    return [o for o in offers if o.listing is not None]

