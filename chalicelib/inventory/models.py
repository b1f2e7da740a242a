"""Storage of the inventory context: vendors, listings and per-date availability.

Availability counters: the contract with the booking context
------------------------------------------------------------
One `AvailabilityDay` per (listing_id, date). Every writer keeps

    available == capacity - held - sold        and        version += 1 on every write

because DynamoDB conditions cannot do arithmetic across attributes: `available` is what a hold
can compare against. Holds, confirmations and releases change the counters with these exact
update and condition expressions (`:q` = units, `:one` = 1), inside their TransactWriteItems:

    hold     SET available = available - :q, held = held + :q, version = version + :one
             CONDITION available >= :q
    confirm  SET held = held - :q, sold = sold + :q, version = version + :one          (held -> sold)
             CONDITION held >= :q
    release  SET held = held - :q, available = available + :q, version = version + :one
             CONDITION held >= :q                  (a hold expires, fails or is cancelled)
    unsell   SET sold = sold - :q, available = available + :q, version = version + :one
             CONDITION sold >= :q                  (a confirmed booking is cancelled)

A missing item fails the hold's condition (nothing to compare), so a date that was never put on
sale is sold out. The conditions sit on the items themselves, never on a GSI (GSIs are
eventually consistent). `hold_actions()` and friends below build the same expressions for
PynamoDB (`TransactWrite.update(day, actions=..., condition=...)`). Capacity changes
(inventory.availability) move `capacity` and `available` by the same delta in one expression,
so the equation above survives any interleaving with these four.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from ..core.aws import share_aws_clients
from ..core.config import table_name
from . import domain

share_aws_clients()  # one botocore loader and DynamoDB client for every model (core.aws)

VENDOR_DIRECTORY = "vendors"


class VendorDirectoryIndex(GlobalSecondaryIndex["Vendor"]):
    """All vendors in creation order (admins page through them) without a scan."""

    class Meta:
        index_name = "directory"
        projection = AllProjection()

    directory = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class Vendor(Model):
    class Meta:
        table_name = table_name("vendors")
        billing_mode = "PAY_PER_REQUEST"

    vendor_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    email = UnicodeAttribute()
    created_at = UnicodeAttribute()
    # One constant partition: vendors are few (thousands at most) and only admins list them.
    directory = UnicodeAttribute(default=VENDOR_DIRECTORY)
    by_directory = VendorDirectoryIndex()


class CancellationPolicyAttribute(MapAttribute[str, Any]):
    free_until_hours = NumberAttribute()
    refund_percent_after = NumberAttribute()


class VendorListingsIndex(GlobalSecondaryIndex["Listing"]):
    """A vendor's own listings, oldest first."""

    class Meta:
        index_name = "by-vendor"
        projection = AllProjection()

    vendor_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class RatingIndex(GlobalSecondaryIndex["Listing"]):
    """A place's listings of one kind, best rated first (inventory.domain.rating_rank): a search
    sorted by rating reads them in this order and stops when its page is full."""

    class Meta:
        index_name = "by-rating"
        projection = KeysOnlyProjection()  # the rank says the group; the page's listings are read

    place_key = UnicodeAttribute(hash_key=True)
    rating_rank = UnicodeAttribute(range_key=True)


class Listing(Model):
    class Meta:
        table_name = table_name("listings")
        billing_mode = "PAY_PER_REQUEST"

    listing_id = UnicodeAttribute(hash_key=True)
    vendor_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # flight | hotel | event | service
    title = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    currency = UnicodeAttribute()
    city = UnicodeAttribute(null=True)  # hotel, event, service
    origin = UnicodeAttribute(null=True)  # flight
    destination = UnicodeAttribute(null=True)  # flight
    attributes = MapAttribute(default=dict)  # free-form, vendor supplied (room type, flight no.)
    cancellation_policy = CancellationPolicyAttribute()
    # Reviews add to these two; the average is derived so concurrent reviews can use ADD.
    rating_sum = NumberAttribute(default=0)
    rating_count = NumberAttribute(default=0)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()  # for people: second precision, two changes can share it
    # What a booking copies (title, currency, policy) is guarded by this number, not by
    # `updated_at`: created at 1, and every write that changes the listing adds 1 in the same
    # update (`ADD version :one`). Listings written before it existed have none (null).
    # Reviews and the availability lease below do not change it: holds need not retry for them.
    version = NumberAttribute(null=True)
    # Lease taken by an availability update (inventory.availability): one capacity writer per
    # listing at a time. Holds never take it.
    availability_lock = UnicodeAttribute(null=True)
    availability_lock_until = NumberAttribute(null=True)
    by_vendor = VendorListingsIndex()
    # The rating index's keys (domain.place_key, domain.rating_rank). Whatever changes
    # rating_sum or rating_count sets rating_rank in the same write.
    place_key = UnicodeAttribute(null=True)
    rating_rank = UnicodeAttribute(null=True)
    by_rating = RatingIndex()

    def with_index_keys(self) -> "Listing":
        """Sets the rating index's keys from the place and the rating; call before saving."""
        self.place_key = domain.place_key(self.kind, city=self.city, origin=self.origin,
                                          destination=self.destination)
        self.rating_rank = domain.rating_rank(float(self.rating_sum or 0), int(self.rating_count or 0),
                                              self.listing_id)
        return self


class SearchIndex(GlobalSecondaryIndex["AvailabilityDay"]):
    """One partition per (kind, place, date), cheapest first (domain.search_rank): a search
    reads the offers of its dates in price order and stops as soon as its page is certain.

    Only what a search needs is projected: the rows it discards cost it less to read and parse.
    """

    class Meta:
        index_name = "by-search-price"
        projection = IncludeProjection(["available", "price", "currency"])

    search_key = UnicodeAttribute(hash_key=True)
    search_rank = UnicodeAttribute(range_key=True)


class AvailabilityDay(Model):
    class Meta:
        table_name = table_name("availability")
        billing_mode = "PAY_PER_REQUEST"

    listing_id = UnicodeAttribute(hash_key=True)
    date = UnicodeAttribute(range_key=True)  # YYYY-MM-DD
    capacity = NumberAttribute()
    held = NumberAttribute(default=0)
    sold = NumberAttribute(default=0)
    available = NumberAttribute()  # = capacity - held - sold, kept by every writer
    price = NumberAttribute()  # minor units per unit on this date
    currency = UnicodeAttribute()
    version = NumberAttribute(default=0)
    # `hotel#PAR#2027-03-01`, `flight#CDG#JFK#2027-03-01` (inventory.domain.search_key)
    search_key = UnicodeAttribute()
    search_rank = UnicodeAttribute()  # domain.search_rank(price, listing_id): set with every price
    by_search = SearchIndex()


def hold_actions(quantity: int) -> tuple[list[Action], Condition]:
    d = AvailabilityDay
    return ([d.available.set(d.available - quantity), d.held.set(d.held + quantity),
             d.version.set(d.version + 1)], d.available >= quantity)


def confirm_actions(quantity: int) -> tuple[list[Action], Condition]:
    d = AvailabilityDay
    return ([d.held.set(d.held - quantity), d.sold.set(d.sold + quantity),
             d.version.set(d.version + 1)], d.held >= quantity)


def release_actions(quantity: int) -> tuple[list[Action], Condition]:
    d = AvailabilityDay
    return ([d.held.set(d.held - quantity), d.available.set(d.available + quantity),
             d.version.set(d.version + 1)], d.held >= quantity)


def unsell_actions(quantity: int) -> tuple[list[Action], Condition]:
    d = AvailabilityDay
    return ([d.sold.set(d.sold - quantity), d.available.set(d.available + quantity),
             d.version.set(d.version + 1)], d.sold >= quantity)


def rating_actions(listing_id: str, rating_sum: float, rating_count: int) -> list[Action]:
    """Set a listing's rating and its place in the rating index together (one write)."""
    return [Listing.rating_sum.set(rating_sum), Listing.rating_count.set(rating_count),
            Listing.rating_rank.set(domain.rating_rank(rating_sum, rating_count, listing_id))]


class PlaceEntry(Model):
    """Autocomplete of places (`GET /places`, inventory.place_index): one item per (term, place).

    A query for a prefix is one Query: hash = the prefix's first character, range begins_with
    the prefix. Terms are normalized (inventory.places.normalize), so partitions are few and
    fixed (letters and digits) and keys never carry a `#` of their own. Every item of a place
    repeats what the answer shows, so no second read is needed.
    """

    class Meta:
        table_name = table_name("places")
        billing_mode = "PAY_PER_REQUEST"

    initial = UnicodeAttribute(hash_key=True)  # the term's first character
    term_code = UnicodeAttribute(range_key=True)  # `<term>#<code>`: "paris charles de gaulle#CDG"
    code = UnicodeAttribute()
    type = UnicodeAttribute()  # city | airport
    name = UnicodeAttribute()
    city = UnicodeAttribute()
    country = UnicodeAttribute(null=True)
    # The last date (YYYY-MM-DD) each kind was put on sale here; only ever moved later, by
    # conditional updates. Top-level attributes rather than a map, so that one UpdateItem both
    # creates a missing item and extends an existing one (a map's member cannot be SET on an
    # item that has no map yet).
    until_flight = UnicodeAttribute(null=True)
    until_hotel = UnicodeAttribute(null=True)
    until_event = UnicodeAttribute(null=True)
    until_service = UnicodeAttribute(null=True)
    # DynamoDB deletes an entry some days after its latest until_* date (place_index.expiry):
    # past entries are filtered out of answers anyway, but while kept they cost reads, so the
    # table holds only what is on sale or recently was. Only ever moved later, like the dates.
    expires_at = TTLAttribute(null=True)


def all_models() -> list[type[Model]]:
    return [Vendor, Listing, AvailabilityDay, PlaceEntry]
