"""Storage of the recommendations context (PynamoDB models).

Everything a recommendation reads is kept up to date by the `recommendations` worker, one
confirmed booking at a time, so a read is a handful of key-range queries, never a computation
over all bookings:

- `History`: what a traveler booked, one item per (traveler, listing): kind, place, price
  level, every date still to come they booked it for (whichever booking). The `by-recency` LSI
  lists a traveler's listings newest first (the recent ones are paired with a new booking and
  seed the co-booked reads). One more item per traveler, listing_id `VERSION` (no `last_at`,
  so not in the LSI), holds `version`: every counting transaction checks the number it read
  with the history and bumps it, so two bookings of one traveler counted at once cannot both
  plan on a history without the other (counting.py).
- `Counted`: one marker per (booking, listing), put with `attribute_not_exists` in the same
  TransactWriteItems as that listing's counter ADDs: a confirmation message delivered twice
  counts once. Markers expire (TTL) long after SQS stops redelivering (14 days at most).
- `CoBooking`: (listing, other listing) -> how many travelers booked both. The `by-count` LSI
  reads a listing's most co-booked first. The other listing's kind and place ride along so a
  read can choose its dates before reading the listing.
- `Popularity`: (scope, listing) -> confirmed bookings; scope `place#LIS` per city, and
  `all#<n>` (SHARDS shards, a listing always in the same one) overall, so no single partition
  takes every confirmation's write. `by-count` LSI: most booked first.
- `Profile`: one per traveler: the weekly-email opt-in (the sparse `weekly-opted-in` GSI is
  what the weekly schedule pages through, never a scan), the places recently searched (a small
  map, trimmed by `searches.note`), and the last week's picks email (its idempotency marker).
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, LocalSecondaryIndex
from pynamodb.models import Model

from ..core.aws import share_aws_clients
from ..core.config import table_name

share_aws_clients()  # one botocore loader and DynamoDB client for every model (core.aws)

SHARDS = 4  # overall popularity: scopes all#0 .. all#3
OPTED_IN = "yes"  # the value of Profile.weekly while opted in (absent otherwise: sparse index)
VERSION = "#version"  # History's per-traveler version item (listing ids start with "lst_")


class HistoryRecencyIndex(LocalSecondaryIndex["History"]):
    class Meta:
        index_name = "by-recency"
        projection = AllProjection()

    traveler_id = UnicodeAttribute(hash_key=True)
    last_at = NumberAttribute(range_key=True)


class History(Model):
    class Meta:
        table_name = table_name("reco-history")
        billing_mode = "PAY_PER_REQUEST"

    traveler_id = UnicodeAttribute(hash_key=True)
    listing_id = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    place = UnicodeAttribute()  # a city code (a flight: its destination's city)
    price_level = NumberAttribute()  # domain.price_level of the newest booking's unit price
    # every date booked that was still to come when last written, sorted (domain.booked_dates)
    dates = ListAttribute(of=UnicodeAttribute, default=list)
    last_at = NumberAttribute()  # epoch seconds of the newest confirmation counted (only moves forward)
    bookings = NumberAttribute(default=0)  # confirmed bookings of this listing by this traveler
    first_booking = UnicodeAttribute(null=True)  # the booking that brought it in (counting.py)
    version = NumberAttribute(null=True)  # only on the traveler's VERSION item

    by_recency = HistoryRecencyIndex()


class Counted(Model):
    class Meta:
        table_name = table_name("reco-counted")
        billing_mode = "PAY_PER_REQUEST"

    booking_id = UnicodeAttribute(hash_key=True)
    listing_id = UnicodeAttribute(range_key=True)
    counted_at = NumberAttribute()
    expires_at = TTLAttribute(null=True)  # cleanup only


class CoBookingCountIndex(LocalSecondaryIndex["CoBooking"]):
    class Meta:
        index_name = "by-count"
        projection = AllProjection()

    listing_id = UnicodeAttribute(hash_key=True)
    together = NumberAttribute(range_key=True)


class CoBooking(Model):
    class Meta:
        table_name = table_name("reco-cobookings")
        billing_mode = "PAY_PER_REQUEST"

    listing_id = UnicodeAttribute(hash_key=True)
    other_id = UnicodeAttribute(range_key=True)
    together = NumberAttribute(default=0)  # travelers who booked both (ADDed)
    other_kind = UnicodeAttribute(null=True)
    other_place = UnicodeAttribute(null=True)

    by_count = CoBookingCountIndex()


class PopularityCountIndex(LocalSecondaryIndex["Popularity"]):
    class Meta:
        index_name = "by-count"
        projection = AllProjection()

    scope = UnicodeAttribute(hash_key=True)
    bookings = NumberAttribute(range_key=True)


class Popularity(Model):
    class Meta:
        table_name = table_name("reco-popularity")
        billing_mode = "PAY_PER_REQUEST"

    scope = UnicodeAttribute(hash_key=True)  # place#<city> | all#<shard>
    listing_id = UnicodeAttribute(range_key=True)
    bookings = NumberAttribute(default=0)  # confirmed bookings (ADDed)
    kind = UnicodeAttribute(null=True)
    place = UnicodeAttribute(null=True)

    by_count = PopularityCountIndex()


class OptedInIndex(GlobalSecondaryIndex["Profile"]):
    """Sparse: only opted-in travelers carry `weekly`. The schedule pages through it."""

    class Meta:
        index_name = "weekly-opted-in"
        projection = AllProjection()

    weekly = UnicodeAttribute(hash_key=True)
    traveler_id = UnicodeAttribute(range_key=True)


class Profile(Model):
    class Meta:
        table_name = table_name("reco-profiles")
        billing_mode = "PAY_PER_REQUEST"

    traveler_id = UnicodeAttribute(hash_key=True)
    weekly = UnicodeAttribute(null=True)  # OPTED_IN or absent
    email = UnicodeAttribute(null=True)  # from the token of whoever opted in
    name = UnicodeAttribute(null=True)
    searched = MapAttribute[str, Any](null=True)  # place -> epoch seconds of the last search there
    picks_week = UnicodeAttribute(null=True)  # ISO week of the last weekly email claimed, e.g. 2026-W49
    picks_state = UnicodeAttribute(null=True)  # sending | sent | failed
    picks_at = NumberAttribute(null=True)
    updated_at = NumberAttribute(null=True)

    by_opted_in = OptedInIndex()


def all_models() -> list[type[Model]]:
    return [History, Counted, CoBooking, Popularity, Profile]
