"""Telling the waitlist that units came free: one `waitlist` queue message per listing.

Called by the booking lifecycle after a transition that released units (expiry, failure,
cancellation) and by the inventory after an availability update that raised capacity, once
their own transaction has committed. Light on purpose (core only): those paths must not load
the waitlist's models. A send that fails is logged and swallowed: the caller's change is done
and must not be reported as failed, and the waitlist's sweep finds the units within a minute.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..core import queues
from ..core.observability import logger

FREED = "freed"


def message(listing_id: str, dates: Iterable[str]) -> dict:
    return {"type": FREED, "listing_id": listing_id, "dates": sorted(set(dates))}


def units_freed(freed: Mapping[str, Iterable[str]]) -> None:
    """`freed`: {listing_id: dates whose available units rose}."""
    messages = [m for m in (message(listing_id, dates) for listing_id, dates in sorted(freed.items()))
                if m["dates"]]
    if not messages:
        return
    try:
        queues.send_all(queues.WAITLIST, messages)
    except Exception:  # the sweep is the safety net; the caller's commit stands
        logger.exception("waitlist not told of freed units", extra={"listings": sorted(freed)})


def items_freed(items: Iterable[Any]) -> None:
    """The units of a booking's items (each with `listing_id` and `dates`) came free."""
    freed: dict[str, set[str]] = {}
    for item in items:
        freed.setdefault(item.listing_id, set()).update(item.dates)
    units_freed(freed)
