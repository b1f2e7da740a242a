"""The booking context's use cases: the functions routes, workers and other contexts call.

A use case's module is imported when its function is first asked for (PEP 562 `__getattr__`):
one Lambda function serves every route, and a cold POST /holds need not load cancellations,
refunds and audits. `importlib.import_module` takes the import lock, so threads asking at
once all get the whole module (core.lazy).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_MODULE_OF = {
    "booking_audit": "audit", "cancel": "cancellation", "cancellation_quote": "cancellation",
    "process_cancellation": "cancellation", "confirm_booking": "confirmation", "find_bookings": "queries",
    "get_booking": "queries", "list_my_bookings": "queries", "list_vendor_bookings": "queries", "pay": "payment",
    "place_hold": "holds", "refund": "refunds", "release_expired_holds": "expiry",
    "confirmed_bookings_of_listing": "reviewable", "require_confirmed": "reviewable",
}

__all__ = ["booking_audit", "cancel", "cancellation_quote", "confirm_booking", "find_bookings", "get_booking",
           "list_my_bookings", "list_vendor_bookings", "pay", "place_hold", "process_cancellation", "refund",
           "release_expired_holds"]
__all__ += ["confirmed_bookings_of_listing", "require_confirmed"]

if TYPE_CHECKING:
    from .audit import booking_audit
    from .cancellation import cancel, cancellation_quote, process_cancellation
    from .confirmation import confirm_booking
    from .expiry import release_expired_holds
    from .holds import place_hold
    from .payment import pay
    from .queries import find_bookings, get_booking, list_my_bookings, list_vendor_bookings
    from .refunds import refund
    from .reviewable import confirmed_bookings_of_listing, require_confirmed


def read_booking(booking_id: str) -> Any:
    """A booking by id (a `domain.Booking`, or None) for another context's worker, which acts
    for the service rather than for a viewer (recommendations counts confirmed bookings)."""
    from .records import load
    return load(booking_id) if isinstance(booking_id, str) and booking_id else None


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__package__}.{module}"), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))
