"""What the reviews context needs from bookings: which of a traveler's bookings include a
listing and are CONFIRMED, and a guard that one still is when a review is written.

The reviews context decides eligibility (has the date come, is it reviewed already); this
module only states booking facts, and owns the booking table's expressions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from ..core.auth import Principal
from ..core.errors import NotFound, ValidationError
from . import domain
from .models import Booking

# Only what the answer needs crosses the wire (a booking item carries its timeline).
_ATTRIBUTES = ["booking_id", "traveler_id", "status", "created_at", "items"]
# How far back a review that names no booking looks for one: the latest 500 bookings (each page
# is one Query round trip). Older stays are reviewed by naming their booking.
PAGE_SIZE = 100
MAX_PAGES = 5


@dataclass(frozen=True)
class ConfirmedBooking:
    booking_id: str
    created_at: str  # ISO instant the booking was made
    first_date: str  # YYYY-MM-DD: the first date of the listing's items in the booking


def _of_listing(record: Booking, listing_id: str) -> ConfirmedBooking | None:
    if record.status != domain.CONFIRMED:
        return None
    firsts = [item.date or item.check_in or (item.dates[0] if item.dates else None)
              for item in (record.items or ()) if item.listing_id == listing_id]
    firsts = [d for d in firsts if d]
    if not firsts:
        return None
    return ConfirmedBooking(record.booking_id, record.created_at, min(firsts))


def confirmed_bookings_of_listing(traveler: Principal, listing_id: str,
                                  booking_id: str | None = None) -> Iterator[ConfirmedBooking]:
    """The traveler's CONFIRMED bookings that include `listing_id`, newest first (the order the
    traveler index gives read backwards: its sort key is the instant the booking was made).

    Without `booking_id`: the traveler's index (one traveler's partition, filtered on status
    server-side; never a scan), read lazily page by page as the caller takes bookings, so a
    caller that stops at the first one it wants reads no further page. At most MAX_PAGES pages
    of PAGE_SIZE bookings (the latest 500 the traveler made): past them, 400 naming
    `booking_id` (name the booking to review), so one review's reads are bounded whatever the
    traveler's history. The index is eventually consistent; the review's transaction re-checks
    the chosen booking (`require_confirmed`).
    With `booking_id`: that booking only (one consistent GetItem); another traveler's or an
    unknown one is NotFound, as everywhere (existence is not revealed).
    """
    if booking_id is not None:
        return iter(_named(traveler, listing_id, booking_id))
    return _latest(traveler, listing_id)


def _named(traveler: Principal, listing_id: str, booking_id: str) -> list[ConfirmedBooking]:
    if not domain.is_booking_id(booking_id):
        raise NotFound("No such booking.")
    try:
        record = Booking.get(booking_id, consistent_read=True, attributes_to_get=_ATTRIBUTES)
    except Booking.DoesNotExist:
        raise NotFound("No such booking.") from None
    if record.traveler_id != traveler.user_id:
        raise NotFound("No such booking.")
    found = _of_listing(record, listing_id)
    return [found] if found else []


def _latest(traveler: Principal, listing_id: str) -> Iterator[ConfirmedBooking]:
    results = Booking.by_traveler.query(traveler.user_id, scan_index_forward=False,
                                        filter_condition=Booking.status == domain.CONFIRMED,
                                        attributes_to_get=_ATTRIBUTES, page_size=PAGE_SIZE)
    # Page by page (not item by item) to count round trips: DynamoDB's Limit counts the items
    # read before the status filter, so a page costs the same whatever it returns.
    for number, page in enumerate(results.page_iter, start=1):
        for raw in page.get("Items") or ():
            found = _of_listing(Booking.from_raw_data(raw), listing_id)
            if found:
                yield found
        if number >= MAX_PAGES and results.page_iter.last_evaluated_key is not None:
            raise ValidationError.for_fields(
                {"booking_id": f"name the booking to review (only your latest {MAX_PAGES * PAGE_SIZE} "
                               "bookings are searched for one)"},
                "Name the booking to review (booking_id): none of your latest bookings can be reviewed.")


def require_confirmed(tx: Any, booking_id: str) -> None:
    """Adds to a TransactWrite the condition that the booking is still CONFIRMED (a
    cancellation that lands between the read and the write fails the whole transaction)."""
    tx.condition_check(Booking, booking_id, condition=Booking.status == domain.CONFIRMED)
