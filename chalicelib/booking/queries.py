"""Reading bookings: one booking, a traveler's list, a vendor's list."""
from __future__ import annotations

import functools
from typing import Any

from ..core import clock, pagination
from ..core.auth import Principal
from ..core.errors import Forbidden
from . import domain
from .cancellation import load_for
from .models import Booking, BookingReference, VendorBooking
from .records import to_domain
from .views import booking_view, vendor_view


def get_booking(viewer: Principal, booking_id: str) -> domain.Booking:
    """One GetItem: the timeline lives in the booking item."""
    return load_for(viewer, booking_id)


def list_my_bookings(viewer: Principal, *, status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    """Newest first, from the traveler's index. The cursor's scope names the traveler, so one
    traveler's cursor cannot walk another's partition."""
    condition = (Booking.status == status) if status else None
    query = functools.partial(Booking.by_traveler.query, viewer.user_id, scan_index_forward=False,
                              filter_condition=condition)
    bookings, next_cursor = pagination.query_page(query, limit=limit, cursor=cursor,
                                                  scope=f"me-bookings:{viewer.user_id}:{status or ''}")
    now = clock.now()
    return {"bookings": [booking_view(to_domain(b), viewer, now) for b in bookings], "next_cursor": next_cursor}


def find_bookings(viewer: Principal, *, reference: str | None, email: str | None, limit: int,
                  cursor: str | None) -> dict[str, Any]:
    """The agent desk: by reference (one GetItem on the reference table, then the booking; a
    reference is matched whatever its case) or by contact email (a page of the email index,
    newest first, then the bookings in one batch). Never a scan."""
    now = clock.now()
    if reference is not None:
        link = _get_or_none(BookingReference, reference.upper())
        booking = _get_or_none(Booking, link.booking_id) if link else None
        found = [booking] if booking else []
        return {"bookings": [booking_view(to_domain(b), viewer, now) for b in found], "next_cursor": None}
    query = functools.partial(Booking.by_contact_email.query, email, scan_index_forward=False)
    keys, next_cursor = pagination.query_page(query, limit=limit, cursor=cursor, scope=f"agent-bookings:{email}")
    by_id = {b.booking_id: b for b in Booking.batch_get([k.booking_id for k in keys])}
    bookings = [by_id[k.booking_id] for k in keys if k.booking_id in by_id]  # the index's order
    return {"bookings": [booking_view(to_domain(b), viewer, now) for b in bookings], "next_cursor": next_cursor}


def _get_or_none(model: Any, key: str) -> Any:
    try:
        return model.get(key, consistent_read=True)
    except model.DoesNotExist:
        return None


def list_vendor_bookings(viewer: Principal, *, start: str | None, end: str | None, status: str | None,
                         limit: int, cursor: str | None) -> dict[str, Any]:
    """Bookings that include the vendor's listings, by first date in [start, end], each shown
    with only this vendor's items. One link per (vendor, booking) is queried by key range and
    the bookings are fetched 25 at a time; one booking more than the page tells whether there
    is a next page."""
    if not viewer.vendor_id:
        # Like every vendor route: a `vendors` account not linked to a vendor owns no bookings
        # (an empty partition key was a DynamoDB ValidationException: a 500).
        raise Forbidden("This account is not linked to a vendor.")
    vendor_id = viewer.vendor_id
    scope = f"vendor-bookings:{vendor_id}:{start}:{end}:{status or ''}"
    after = pagination.decode(cursor, scope=scope).get("after") if cursor else None
    if after is not None and not isinstance(after, str):
        raise pagination.invalid_cursor()
    low, high = (after + "\x00") if after else (start or "0000"), (end or "9999") + "#~"
    found: list[tuple[str, Booking]] = []
    if low <= high:
        batch: list[VendorBooking] = []
        for link in VendorBooking.query(vendor_id, VendorBooking.sort_key.between(low, high), page_size=100):
            batch.append(link)
            if len(batch) == 25:
                found += _matching(batch, status)
                batch = []
                if len(found) > limit:
                    break
        if batch and len(found) <= limit:
            found += _matching(batch, status)
    page = found[:limit]
    next_cursor = pagination.encode({"after": page[-1][0]}, scope=scope) if len(found) > limit else None
    return {"bookings": [vendor_view(to_domain(booking), vendor_id) for _, booking in page],
            "next_cursor": next_cursor}


def _matching(links: list[VendorBooking], status: str | None) -> list[tuple[str, Booking]]:
    """The links' bookings (one BatchGetItem), in link order, with the status asked for."""
    bookings = {b.booking_id: b for b in Booking.batch_get([link.booking_id for link in links])}
    return [(link.sort_key, bookings[link.booking_id]) for link in links
            if link.booking_id in bookings and (status is None or bookings[link.booking_id].status == status)]
