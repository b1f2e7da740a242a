"""What the booking context needs from inventory: priced quotes and counter moves.

Booking owns its transactions (one TransactWriteItems per hold, confirmation, release); this
module contributes the inventory parts of them, with the expressions documented in
`models.py`, so the counters' rules stay in one context.

Quotes are cached per Lambda container for a short while. A stale cache can never charge a
wrong price or a wrong policy: the hold's transaction is conditioned on each day's `price`
(the price itself, exact) and on the listing's `version` (which every change of the listing
increments; `updated_at` has second precision, and two changes can share a second), and a
failed condition makes the caller refresh and retry. With a warm cache a hold is one DynamoDB
round trip (DESIGN: the floor).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from pynamodb.transactions import TransactWrite

from .domain import CancellationPolicy
from .models import AvailabilityDay, Listing, confirm_actions, hold_actions, release_actions, unsell_actions

QUOTE_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class ListingSnapshot:
    listing_id: str
    vendor_id: str
    kind: str
    title: str
    currency: str
    policy: CancellationPolicy
    version: int | None  # None: a listing stored before versions existed


@dataclass
class Quote:
    """A listing and the unit price of each requested date (None: not on sale that date)."""
    listing: ListingSnapshot | None
    prices: dict[str, int | None] = field(default_factory=dict)


@dataclass
class _Entry:
    listing: ListingSnapshot | None
    prices: dict[str, int | None]
    fetched_at: float


_cache: dict[str, _Entry] = {}
_lock = threading.Lock()


def forget(listing_ids: Iterable[str] | None = None) -> None:
    """Drop cached quotes (after a failed price/policy condition, or in tests)."""
    with _lock:
        if listing_ids is None:
            _cache.clear()
        for listing_id in listing_ids or ():
            _cache.pop(listing_id, None)


def _snapshot(listing: Listing) -> ListingSnapshot:
    policy = listing.cancellation_policy
    return ListingSnapshot(listing.listing_id, listing.vendor_id, listing.kind, listing.title, listing.currency,
                           CancellationPolicy(int(policy.free_until_hours), int(policy.refund_percent_after)),
                           None if listing.version is None else int(listing.version))


def quote(wanted: dict[str, list[str]], *, now: float | None = None) -> dict[str, Quote]:
    """Prices for {listing_id: [dates]}; at most one BatchGetItem for whatever is not cached."""
    now = time.monotonic() if now is None else now
    result: dict[str, Quote] = {}
    missing: dict[str, list[str]] = {}
    with _lock:
        for listing_id, dates in wanted.items():
            entry = _cache.get(listing_id)
            # A date not on sale is never served from the cache: the vendor may just have opened it.
            if entry and now - entry.fetched_at < QUOTE_TTL_SECONDS and \
                    all(entry.prices.get(d) is not None for d in dates):
                result[listing_id] = Quote(entry.listing, {d: entry.prices[d] for d in dates})
            else:
                missing[listing_id] = dates
    if missing:
        fetched = _fetch(missing)
        with _lock:
            for listing_id, fresh in fetched.items():
                entry = _cache.get(listing_id)
                prices = dict(entry.prices) if entry and now - entry.fetched_at < QUOTE_TTL_SECONDS else {}
                prices.update(fresh.prices)
                _cache[listing_id] = _Entry(fresh.listing, prices, now)
                result[listing_id] = fresh
    return result


def _fetch(wanted: dict[str, list[str]]) -> dict[str, Quote]:
    """Listings and their days in one BatchGetItem across both tables (100 keys per call)."""
    keys: list[tuple[str, dict[str, Any]]] = []
    for listing_id, dates in wanted.items():
        keys.append((Listing.Meta.table_name, {"listing_id": {"S": listing_id}}))
        keys.extend((AvailabilityDay.Meta.table_name, {"listing_id": {"S": listing_id}, "date": {"S": d}})
                    for d in dates)
    quotes = {listing_id: Quote(None, {d: None for d in dates}) for listing_id, dates in wanted.items()}
    client = Listing._get_connection().connection.client  # the models' one client (core.aws)
    for start in range(0, len(keys), 100):
        pending: dict[str, Any] = {}
        for table, key in keys[start:start + 100]:
            pending.setdefault(table, {"Keys": []})["Keys"].append(key)
        while pending:
            response = client.batch_get_item(RequestItems=pending)
            for raw in response["Responses"].get(Listing.Meta.table_name, []):
                listing = Listing.from_raw_data(raw)
                quotes[listing.listing_id].listing = _snapshot(listing)
            for raw in response["Responses"].get(AvailabilityDay.Meta.table_name, []):
                day = AvailabilityDay.from_raw_data(raw)
                quotes[day.listing_id].prices[day.date] = int(day.price)
            pending = response.get("UnprocessedKeys") or {}
    return quotes


# --- transaction parts ------------------------------------------------------------------------

def _day(listing_id: str, date: str) -> AvailabilityDay:
    return AvailabilityDay(listing_id, date)


def check_listing_unchanged(tx: TransactWrite, snapshot: ListingSnapshot) -> None:
    """The title, currency and policy the booking copies are the listing's current ones: the
    listing's `version` is still the one quoted (still absent, for a listing stored without)."""
    condition = (Listing.version.does_not_exist() if snapshot.version is None
                 else Listing.version == snapshot.version)
    tx.condition_check(Listing, snapshot.listing_id, condition=condition)


def hold_units(tx: TransactWrite, listing_id: str, date: str, quantity: int, price: int) -> None:
    actions, condition = hold_actions(quantity)
    tx.update(_day(listing_id, date), actions=actions, condition=condition & (AvailabilityDay.price == price),
              return_values="ALL_OLD")


def sell_held_units(tx: TransactWrite, listing_id: str, date: str, quantity: int) -> None:
    actions, condition = confirm_actions(quantity)
    tx.update(_day(listing_id, date), actions=actions, condition=condition)


def release_held_units(tx: TransactWrite, listing_id: str, date: str, quantity: int) -> None:
    actions, condition = release_actions(quantity)
    tx.update(_day(listing_id, date), actions=actions, condition=condition)


def release_sold_units(tx: TransactWrite, listing_id: str, date: str, quantity: int) -> None:
    actions, condition = unsell_actions(quantity)
    tx.update(_day(listing_id, date), actions=actions, condition=condition)


def describe_shortage(raw_item: dict[str, Any]) -> tuple[str, str, int, int]:
    """(listing_id, date, available, price) of a day whose hold condition failed."""
    day = AvailabilityDay.from_raw_data(raw_item)
    return day.listing_id, day.date, int(day.available), int(day.price)
