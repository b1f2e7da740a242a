"""Storage of the waitlist (PynamoDB models).

- `WaitlistEntry` (table `waitlist`, hash `entry_id`): one item per entry; it never grows.
  Three indexes answer the three reads, none of them a scan:
  * `waiting-by-listing` (sparse): hash `waiting_listing` = the listing id, range
    `waiting_rank` = join time#entry id, present only while the entry is WAITING or OFFERING:
    a listing's line, oldest first. All attributes projected (an offer needs them all; the
    entry itself is re-checked by the claim's condition, since a GSI may lag).
  * `waiting-by-shard` (sparse): hash `waiting_shard` (0..SHARDS-1 from the listing id), range
    `waiting_rank`, same lifetime: the sweep's way to every listing with a line.
    Projects listing_id and first_date only.
  * `by-traveler`: hash `traveler_id`, range `joined_at`: a traveler's entries, newest first.
- `WaitlistSlot` (table `waitlist-slots`, hash `traveler_id`, range `slot`): per traveler,
  `slot = "active"` counts their active entries (`count`, the cap's condition) and one item
  `slot#<listing>#<dates>` per active entry names it (`entry_id`), so joining twice, even at the
  same instant, finds the first entry. Written in the same transaction as every entry's entry
  into or exit from the active statuses.
"""
from __future__ import annotations

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from ..core.aws import share_aws_clients
from ..core.config import table_name

share_aws_clients()  # one botocore loader and DynamoDB client for every model (core.aws)

ACTIVE_COUNT = "active"


class WaitingByListingIndex(GlobalSecondaryIndex["WaitlistEntry"]):
    class Meta:
        index_name = "waiting-by-listing"
        projection = AllProjection()

    waiting_listing = UnicodeAttribute(hash_key=True)
    waiting_rank = UnicodeAttribute(range_key=True)


class WaitingByShardIndex(GlobalSecondaryIndex["WaitlistEntry"]):
    class Meta:
        index_name = "waiting-by-shard"
        projection = IncludeProjection(["listing_id", "first_date"])

    waiting_shard = UnicodeAttribute(hash_key=True)
    waiting_rank = UnicodeAttribute(range_key=True)


class TravelerEntriesIndex(GlobalSecondaryIndex["WaitlistEntry"]):
    class Meta:
        index_name = "by-traveler"
        projection = AllProjection()

    traveler_id = UnicodeAttribute(hash_key=True)
    joined_at = NumberAttribute(range_key=True)


class WaitlistEntry(Model):
    class Meta:
        table_name = table_name("waitlist")
        billing_mode = "PAY_PER_REQUEST"

    entry_id = UnicodeAttribute(hash_key=True)
    traveler_id = UnicodeAttribute()
    traveler_email = UnicodeAttribute()  # the hold's contact, from the traveler's token
    traveler_name = UnicodeAttribute()
    listing_id = UnicodeAttribute()
    quantity = NumberAttribute()
    dates = ListAttribute(of=UnicodeAttribute)  # every date whose units it needs (nights of a stay)
    first_date = UnicodeAttribute()
    date = UnicodeAttribute(null=True)
    check_in = UnicodeAttribute(null=True)
    check_out = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    joined_at = NumberAttribute()  # epoch seconds with fractions: the line's order
    updated_at = NumberAttribute()
    booking_id = UnicodeAttribute(null=True)  # the automatic hold, once OFFERED
    reference = UnicodeAttribute(null=True)
    # Secret part of the hold's Idempotency-Key (offers.hold_key); a new one when the key's hold
    # ended before the entry was marked with it (records.rekey).
    offer_key = UnicodeAttribute()
    claim = UnicodeAttribute(null=True)  # the worker placing its hold (OFFERING)
    claimed_until = NumberAttribute(null=True)
    # Index keys, set only while the entry is in the line (WAITING, OFFERING).
    waiting_listing = UnicodeAttribute(null=True)
    waiting_shard = UnicodeAttribute(null=True)
    waiting_rank = UnicodeAttribute(null=True)

    waiting_by_listing = WaitingByListingIndex()
    waiting_by_shard = WaitingByShardIndex()
    by_traveler = TravelerEntriesIndex()


class WaitlistSlot(Model):
    class Meta:
        table_name = table_name("waitlist-slots")
        billing_mode = "PAY_PER_REQUEST"

    traveler_id = UnicodeAttribute(hash_key=True)
    slot = UnicodeAttribute(range_key=True)  # "active" or "slot#<listing>#<dates>"
    count = NumberAttribute(null=True)  # "active": the traveler's active entries
    entry_id = UnicodeAttribute(null=True)  # a slot: the active entry holding it


def all_models() -> list[type[Model]]:
    return [WaitlistEntry, WaitlistSlot]
