"""Reading bookings: one booking, a traveler's list, a vendor's list."""
from __future__ import annotations

import functools
import time
from typing import Any

from ..core import pagination
from ..core.auth import Principal
from .cancellation import load_for
from .models import Booking, VendorBooking
from .views import booking_view


def get_booking(viewer: Principal, booking_id: str) -> dict[str, Any]:
    """One GetItem: the timeline lives in the booking item."""
    return booking_view(load_for(viewer, booking_id), viewer)


def list_my_bookings(viewer: Principal, *, status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    """Newest first, from the traveler's index. The cursor's scope names the traveler, so one
    traveler's cursor cannot walk another's partition."""
    condition = (Booking.status == status) if status else None
    query = functools.partial(Booking.by_traveler.query, viewer.user_id, scan_index_forward=False,
                              filter_condition=condition)
    bookings, next_cursor = pagination.query_page(query, limit=limit, cursor=cursor,
                                                  scope=f"me-bookings:{viewer.user_id}:{status or ''}")
    now = time.time()
    return {"bookings": [booking_view(b, viewer, now) for b in bookings], "next_cursor": next_cursor}


def list_vendor_bookings(viewer: Principal, *, start: str | None, end: str | None, status: str | None,
                         limit: int, cursor: str | None) -> dict[str, Any]:
    """Bookings that include the vendor's listings whose first date is in [start, end]."""
    vendor_id = viewer.vendor_id or ""
    scope = f"vendor-bookings:{vendor_id}:{start}:{end}:{status or ''}"
    after = pagination.decode(cursor, scope=scope).get("after") if cursor else None
    if after is not None and not isinstance(after, str):
        raise pagination.invalid_cursor()
    low, high = (start or "0000"), (end or "9999") + "#~"
    condition = VendorBooking.sort_key.between(low, high)
    if after:
        condition = VendorBooking.sort_key.between(after + "\x00", high) if after < high else None
    bookings: list[Booking] = []
    last_key = None
    if condition is not None:
        links = VendorBooking.query(vendor_id, condition, page_size=100)
        batch: list[tuple[str, str]] = []
        for link in links:
            batch.append((link.sort_key, link.booking_id))
            if len(batch) == 25:
                last_key = _collect(batch, status, bookings, limit)
                batch = []
                if last_key:
                    break
        if batch and not last_key:
            last_key = _collect(batch, status, bookings, limit)
    now = time.time()
    return {"bookings": [booking_view(b, viewer, now) for b in bookings],
            "next_cursor": pagination.encode({"after": last_key}, scope=scope) if last_key else None}


def _collect(batch: list[tuple[str, str]], status: str | None, into: list[Booking], limit: int) -> str | None:
    """Adds the batch's bookings in key order; returns the sort key to resume after once full."""
    found = {b.booking_id: b for b in Booking.batch_get([booking_id for _, booking_id in batch])}
    for sort_key, booking_id in batch:
        booking = found.get(booking_id)
        if booking is not None and (status is None or booking.status == status):
            into.append(booking)
            if len(into) == limit:
                return sort_key
    return None
