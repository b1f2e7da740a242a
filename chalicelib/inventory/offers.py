"""What other contexts read of listings and their dates in bulk (recommendations): the
listings' facts and, optionally, their (listing, date) availability, in one BatchGetItem per
100 keys across both tables, so many candidates cost one round trip, not one each.

Read-only and eventually consistent: a recommendation is advice, the hold checks for real.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..core.errors import ServiceUnavailable
from . import domain
from .models import AvailabilityDay, Listing
from .places import CITIES

BATCH_KEYS = 100  # BatchGetItem's limit per request
# Keys DynamoDB leaves unprocessed (throttling) are asked again after a growing, jittered
# pause (AWS's advice for BatchGetItem), at most BATCH_ATTEMPTS calls per batch: about 1.5 s of
# pauses at worst, then the caller gets a 503 with Retry-After rather than a request that spins.
BATCH_ATTEMPTS = 5
BACKOFF_BASE = 0.05  # seconds before the second call; doubles each time
BACKOFF_CAP = 1.0

_CITY_OF_AIRPORT = {airport: city.code for city in CITIES.values() for airport in city.airports}


def city_of(code: str) -> str:
    """The city a place code stands for: an airport's city (CDG -> PAR), else the code itself."""
    return _CITY_OF_AIRPORT.get(code, code)


@dataclass(frozen=True)
class ListingFacts:
    listing_id: str
    kind: str
    title: str
    vendor_id: str
    currency: str
    place: str  # a city code: a flight's destination city, else the listing's city
    city: str | None = None
    origin: str | None = None
    destination: str | None = None
    rating_average: float | None = None
    rating_count: int = 0


@dataclass(frozen=True)
class DayOffer:
    date: str
    available: int
    price: int
    currency: str


@dataclass
class ListingDays:
    facts: ListingFacts | None  # None: no such listing (deleted, or a stale id)
    days: dict[str, DayOffer] = field(default_factory=dict)  # only dates on sale


def place_of(kind: str, city: str | None, destination: str | None) -> str:
    return city_of(destination or "") if kind == "flight" else (city or "")


def _facts(listing: Listing) -> ListingFacts:
    count = int(listing.rating_count or 0)
    return ListingFacts(listing_id=listing.listing_id, kind=listing.kind, title=listing.title,
                        vendor_id=listing.vendor_id, currency=listing.currency,
                        place=place_of(listing.kind, listing.city, listing.destination), city=listing.city,
                        origin=listing.origin, destination=listing.destination,
                        rating_average=domain.rating_average(float(listing.rating_sum or 0), count),
                        rating_count=count)


def listing_facts(listing_ids: Iterable[str]) -> dict[str, ListingFacts]:
    """The listings that exist among `listing_ids` (ids that are not listing ids are skipped)."""
    return {k: v.facts for k, v in listings_with_days({i: () for i in listing_ids}).items() if v.facts}


def listings_with_days(wanted: Mapping[str, Iterable[str]]) -> dict[str, ListingDays]:
    """{listing_id: dates} -> each listing's facts and its days on sale among those dates."""
    keys: list[tuple[str, dict[str, Any]]] = []
    result: dict[str, ListingDays] = {}
    for listing_id, dates in wanted.items():
        if not domain.is_valid_id(listing_id, "lst"):
            continue
        result[listing_id] = ListingDays(None)
        keys.append((Listing.Meta.table_name, {"listing_id": {"S": listing_id}}))
        keys.extend((AvailabilityDay.Meta.table_name, {"listing_id": {"S": listing_id}, "date": {"S": d}})
                    for d in sorted(set(dates)))
    client = Listing._get_connection().connection.client  # the models' one client (core.aws)
    for start in range(0, len(keys), BATCH_KEYS):
        pending: dict[str, Any] = {}
        for table, key in keys[start:start + BATCH_KEYS]:
            pending.setdefault(table, {"Keys": []})["Keys"].append(key)
        if AvailabilityDay.Meta.table_name in pending:  # only what an offer needs
            pending[AvailabilityDay.Meta.table_name].update(
                ProjectionExpression="listing_id, #d, available, price, currency",
                ExpressionAttributeNames={"#d": "date"})
        for attempt in range(BATCH_ATTEMPTS + 1):
            if not pending:
                break
            if attempt == BATCH_ATTEMPTS:
                raise ServiceUnavailable("Listings are busy right now; try again shortly.",
                                         headers={"Retry-After": "1"})
            if attempt:
                pause = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
                time.sleep(random.uniform(pause / 2, pause))  # jitter: retries of many readers spread out
            response = client.batch_get_item(RequestItems=pending)
            for raw in response["Responses"].get(Listing.Meta.table_name, []):
                listing = Listing.from_raw_data(raw)
                result[listing.listing_id].facts = _facts(listing)
            for raw in response["Responses"].get(AvailabilityDay.Meta.table_name, []):
                day = DayOffer(raw["date"]["S"], int(raw["available"]["N"]), int(raw["price"]["N"]),
                               raw["currency"]["S"])
                result[raw["listing_id"]["S"]].days[day.date] = day
            pending = response.get("UnprocessedKeys") or {}
    return result
