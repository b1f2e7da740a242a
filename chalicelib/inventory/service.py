"""Inventory use cases: one function per thing a vendor, an admin or a traveler does.

Other contexts call the inventory through this module (and the booking context's transaction
parts through `reservations`, with the counter expressions documented in `models.py`).
"""
from __future__ import annotations

import functools
import secrets
from contextlib import contextmanager
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Iterator

from pynamodb.exceptions import DoesNotExist, UpdateError

from ..core import pagination
from ..core.errors import Forbidden, NotFound, ValidationError
from . import domain
from .availability import set_availability as _set_availability
from .models import AvailabilityDay, CancellationPolicyAttribute, Listing
from .search import search  # noqa: F401  (use case re-exported for routes and other contexts)
from .vendors import create_vendor, list_vendors  # noqa: F401

if TYPE_CHECKING:
    from ..core.auth import Principal

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
MAX_AVAILABILITY_READ = 366


@contextmanager
def field_errors() -> Iterator[None]:
    """Pure rules raise FieldErrors; clients get the 400 of API.md naming each field."""
    try:
        yield
    except domain.FieldErrors as exc:
        raise ValidationError.for_fields(exc.fields) from None


def new_id(prefix: str) -> str:
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def vendor_of(principal: Principal) -> str:
    """The vendor a token acts for; a `vendors` user without one cannot own listings."""
    if not principal.vendor_id:
        raise Forbidden("This account is not linked to a vendor.")
    return principal.vendor_id


# --- listings -------------------------------------------------------------------------------

def get_listing(listing_id: str) -> Listing:
    if not domain.is_valid_id(listing_id, "lst"):
        raise NotFound("No such listing.")
    try:
        return Listing.get(listing_id)
    except DoesNotExist:
        raise NotFound("No such listing.") from None


def own_listing(vendor_id: str, listing_id: str) -> Listing:
    """The vendor's listing; another vendor's is 404 as well, so existence is not revealed."""
    listing = get_listing(listing_id)
    if listing.vendor_id != vendor_id:
        raise NotFound("No such listing.")
    return listing


def create_listing(vendor_id: str, fields: dict[str, Any]) -> Listing:
    now = domain.iso_instant(domain.utc_now())
    policy = fields.pop("cancellation_policy")
    listing = Listing(new_id("lst"), vendor_id=vendor_id, created_at=now, updated_at=now, version=1,
                      cancellation_policy=CancellationPolicyAttribute(**policy), **fields).with_index_keys()
    listing.save(condition=Listing.listing_id.does_not_exist())
    return listing


def update_listing(vendor_id: str, listing_id: str, changes: dict[str, Any]) -> Listing:
    """Only what describes the listing changes; the condition makes ownership atomic.

    `changes` comes from schemas.ListingPatch; the checks below keep any other caller from
    removing what every read of a listing needs (a null title or policy broke GET and search).
    A null description or attributes clears them. Nothing is written when a check fails.
    Every update adds 1 to `version` in the same write: holds condition the snapshot they copy
    (title, policy) on it, since two updates can share `updated_at`'s second.
    """
    missing = {name: "cannot be removed" for name in ("title", "cancellation_policy")
               if name in changes and changes[name] is None}
    if missing:
        raise ValidationError.for_fields(missing)
    listing = own_listing(vendor_id, listing_id)
    actions = [Listing.updated_at.set(domain.iso_instant(domain.utc_now())), Listing.version.add(1)]
    cleared = {"description": "", "attributes": {}}
    for name in ("title", "description", "attributes"):
        if name in changes:
            value = changes[name]
            actions.append(getattr(Listing, name).set(cleared[name] if value is None else value))
    if "cancellation_policy" in changes:
        actions.append(Listing.cancellation_policy.set(
            CancellationPolicyAttribute(**changes["cancellation_policy"])))
    try:
        listing.update(actions=actions, condition=Listing.vendor_id == vendor_id)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise NotFound("No such listing.") from None
        raise
    return listing


def vendor_listings(vendor_id: str, limit: int, cursor: str | None) -> tuple[list[Listing], str | None]:
    return pagination.query_page(functools.partial(Listing.by_vendor.query, vendor_id),
                                 limit=limit, cursor=cursor, scope=f"vendor-listings:{vendor_id}")


# --- availability ---------------------------------------------------------------------------

def set_availability(vendor_id: str, listing_id: str, *, first: date | None, last: date | None,
                     capacity: int | None, price: int | None,
                     days: list[tuple[date, int, int]] | None) -> int:
    listing = own_listing(vendor_id, listing_id)
    with field_errors():
        settings = domain.expand_days(first, last, capacity, price, days,
                                      today=domain.earliest_today(domain.utc_now()))
    return _set_availability(listing, settings)


def listing_availability(listing_id: str, first: date | None, last: date | None) -> list[AvailabilityDay]:
    """Public calendar of a listing: days on sale between first and last (inclusive)."""
    first = first or domain.utc_now().date()
    last = last or first + timedelta(days=29)
    errors = {}
    if last < first:
        errors = {"from": "must be on or before to", "to": "must be on or after from"}
    elif (last - first).days + 1 > MAX_AVAILABILITY_READ:
        errors = {"to": f"at most {MAX_AVAILABILITY_READ} days from `from`"}
    if errors:
        raise ValidationError.for_fields(errors)
    get_listing(listing_id)  # 404 for a listing that does not exist, rather than an empty calendar
    days = AvailabilityDay.query(listing_id, AvailabilityDay.date.between(first.isoformat(), last.isoformat()))
    return list(days)

