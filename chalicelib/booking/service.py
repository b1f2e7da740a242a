"""The booking context's use cases: the functions routes, workers and other contexts call."""
from __future__ import annotations

from .audit import booking_audit
from .cancellation import cancel, cancellation_quote, process_cancellation
from .confirmation import confirm_booking
from .expiry import release_expired_holds
from .holds import place_hold
from .payment import pay
from .queries import find_bookings, get_booking, list_my_bookings, list_vendor_bookings
from .refunds import refund

__all__ = ["booking_audit", "cancel", "cancellation_quote", "confirm_booking", "find_bookings", "get_booking",
           "list_my_bookings", "list_vendor_bookings", "pay", "place_hold", "process_cancellation", "refund",
           "release_expired_holds"]
