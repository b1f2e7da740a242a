"""Stored items -> response shapes (schemas.py). Pure, so every route shapes alike."""
from __future__ import annotations

from typing import Any

from ..core.schemas import Money
from .domain import rating_average
from .models import AvailabilityDay, Listing, Vendor
from .schemas import DayOut, ListingOut, Policy, Rating, SearchResult, VendorOut
from .search_rules import Offer, SearchParams


def rating(listing: Listing) -> Rating:
    count = int(listing.rating_count or 0)
    return Rating(average=rating_average(float(listing.rating_sum or 0), count), count=count)


def listing_out(listing: Listing) -> ListingOut:
    policy = listing.cancellation_policy
    return ListingOut(
        listing_id=listing.listing_id, vendor_id=listing.vendor_id, kind=listing.kind,
        title=listing.title, description=listing.description or "", currency=listing.currency,
        city=listing.city, origin=listing.origin, destination=listing.destination,
        attributes=_plain(listing.attributes.as_dict() if listing.attributes else {}),
        cancellation_policy=Policy(free_until_hours=int(policy.free_until_hours),
                                   refund_percent_after=int(policy.refund_percent_after)),
        rating=rating(listing), created_at=listing.created_at, updated_at=listing.updated_at)


def day_out(day: AvailabilityDay) -> DayOut:
    return DayOut(date=day.date, capacity=int(day.capacity), available=max(0, int(day.available)),
                  price=Money(amount=int(day.price), currency=day.currency))


def search_result(offer: Offer, params: SearchParams) -> SearchResult:
    """A result: the listing, and the stay (hotels) or the date (everything else) searched."""
    listing = offer.listing
    if params.kind == "hotel":
        assert params.check_in and params.check_out
        dates = {"check_in": params.check_in.isoformat(), "check_out": params.check_out.isoformat()}
    else:
        assert params.date
        dates = {"date": params.date.isoformat()}
    return SearchResult(
        listing_id=listing.listing_id, kind=listing.kind, title=listing.title,
        vendor_id=listing.vendor_id, city=listing.city, origin=listing.origin,
        destination=listing.destination, available=offer.available,
        price_total=Money(amount=offer.price_total, currency=offer.currency),
        rating=rating(listing), **dates)


def vendor_out(vendor: Vendor, temporary_password: str | None = None) -> VendorOut:
    return VendorOut(vendor_id=vendor.vendor_id, name=vendor.name, email=vendor.email,
                     created_at=vendor.created_at, temporary_password=temporary_password)


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as floats; give whole numbers back as ints."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
