"""The waitlist's use cases for travelers: join, list mine, leave. They return domain results.

Offering freed units to the line is `offers.offer` (workers call it). A traveler sees only
their own entries: another's entry is 404, as one that does not exist.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timezone

from ..core import clock, pagination
from ..core.auth import Principal
from ..core.config import settings
from ..core.errors import InvalidState, NotFound, RateLimited, ServiceUnavailable, ValidationError
from ..core.lazy import lazy_module
from ..core.observability import count, logger
from ..inventory.domain import earliest_today
from . import domain, records
from .models import WaitlistEntry

# Another context is reached through its service functions only (DESIGN "Shape").
inventory = lazy_module("chalicelib.inventory.service")

_JOIN_ROUNDS = 3  # a slot freed between our transaction and our read of it: try again


@dataclass(frozen=True)
class Joined:
    entry: domain.Entry
    created: bool  # False: the traveler was already waiting for these dates and units (that entry)


def today(now: float) -> date:
    return earliest_today(datetime.fromtimestamp(now, tz=timezone.utc))


def _contact(traveler: Principal) -> tuple[str, str]:
    """The hold's contact: the address and name in the traveler's token (a name it lacks: the
    address's local part), checked now as the hold request will check it, so that an offer is
    never refused for its contact."""
    from pydantic import ValidationError as PydanticValidationError

    from ..booking.schemas import ContactIn

    name = (traveler.name.strip() or traveler.email.split("@", 1)[0])[:120] or "Traveler"
    try:
        contact = ContactIn(email=traveler.email, name=name)
    except PydanticValidationError:
        raise ValidationError.for_fields({"email": "your account has no valid email address to send "
                                                   "the hold to; update it first"}) from None
    return contact.email, contact.name


def join(traveler: Principal, listing_id: str, *, quantity: int, day: date | None, check_in: date | None,
         check_out: date | None) -> Joined:
    """A place in the listing's line for sold-out dates (409 INVALID_STATE when they are not).
    Already waiting for these dates: that entry for the same quantity, 409 INVALID_STATE
    naming it for another (leave it and join again)."""
    listing = inventory.get_listing(listing_id)  # NotFound
    now = clock.now()
    try:
        wanted = domain.wanted(listing.kind, quantity=quantity, day=day, check_in=check_in, check_out=check_out,
                               today=today(now), max_units=settings().max_units_per_item)
    except domain.FieldErrors as exc:
        raise ValidationError.for_fields(exc.fields) from None
    available = records.available(listing_id, wanted.dates)
    if not domain.shortage(wanted, available):
        raise InvalidState(
            "These dates are not sold out: place a hold instead (POST /holds). The waitlist is for "
            "sold-out dates.", {"available": [{"date": d, "available": available.get(d, 0)} for d in wanted.dates]})
    email, name = _contact(traveler)
    for _ in range(_JOIN_ROUNDS):
        entry = domain.Entry(entry_id=domain.new_entry_id(), traveler_id=traveler.user_id, traveler_email=email,
                             traveler_name=name, listing_id=listing_id, wanted=wanted, status=domain.WAITING,
                             joined_at=now, updated_at=now, offer_key=domain.new_offer_key())
        failures = records.create(entry, cap=domain.MAX_ACTIVE_ENTRIES)
        if not failures:
            count("WaitlistJoined")
            logger.info("waitlist joined", extra={"entry_id": entry.entry_id, "listing_id": listing_id})
            return Joined(entry, True)
        labels = {f.label[0] for f in failures if f.label}
        if "slot" in labels:
            holder = records.slot_holder(traveler.user_id, listing_id, wanted)
            existing = records.load(holder) if holder else None
            if existing is not None:
                if existing.quantity != wanted.quantity:
                    # Answering the old entry with 200 would let the traveler believe the new
                    # quantity waits; changing it in place would move it in a line it keeps.
                    raise InvalidState(
                        f"You are already waiting for these dates with {existing.quantity} unit(s) "
                        f"(entry {existing.entry_id}). To wait for {wanted.quantity} instead, leave "
                        f"that entry (DELETE /me/waitlist/{existing.entry_id}) and join again; you "
                        "then join at the end of the line.",
                        {"entry_id": existing.entry_id, "quantity": existing.quantity,
                         "status": existing.status})
                return Joined(existing, False)
            continue  # the slot's entry left in between: the slot is free again
        # The cap refuses only when its condition failed: a conflict on the traveler's counter (one
        # of their entries offered or left at this instant) is transient, and retried below.
        if any(f.label and f.label[0] == "active" and f.code == "ConditionalCheckFailed" for f in failures):
            raise RateLimited(f"You are already on {domain.MAX_ACTIVE_ENTRIES} waitlists; leave one first.",
                              {"max_active_entries": domain.MAX_ACTIVE_ENTRIES})
        if any(f.code == "TransactionConflict" for f in failures):
            continue
        raise RuntimeError(f"joining the waitlist failed: {failures}")
    raise ServiceUnavailable("The waitlist is busy; retry in a moment.", headers={"Retry-After": "1"})


def list_mine(traveler: Principal, *, limit: int, cursor: str | None) -> tuple[list[domain.Entry], str | None]:
    """Newest first. The cursor's scope names the traveler: it cannot walk another's entries."""
    query = functools.partial(WaitlistEntry.by_traveler.query, traveler.user_id, scan_index_forward=False)
    items, next_cursor = pagination.query_page(query, limit=limit, cursor=cursor,
                                               scope=f"me-waitlist:{traveler.user_id}")
    return [records.to_domain(item) for item in items], next_cursor


def leave(traveler: Principal, entry_id: str) -> None:
    """WAITING -> LEFT: never offered afterwards. Leaving again is a no-op (LEFT, EXPIRED).
    An entry that got its hold (OFFERED), or is getting it right now (OFFERING), cannot be
    left: 409 INVALID_STATE (the traveler cancels the hold instead)."""
    for _ in range(_JOIN_ROUNDS):
        entry = records.load(entry_id)
        if entry is None or entry.traveler_id != traveler.user_id:
            raise NotFound("No such waitlist entry.")
        if entry.status in (domain.LEFT, domain.EXPIRED):
            return
        if entry.status == domain.OFFERED:
            raise InvalidState("This entry already received its hold; cancel that booking instead.",
                               {"status": entry.status, "booking_id": entry.booking_id,
                                "reference": entry.reference})
        if entry.status == domain.OFFERING:
            raise InvalidState("A hold is being placed for this entry right now; look again in a minute.",
                               {"status": entry.status}, headers={"Retry-After": str(domain.CLAIM_SECONDS)})
        if records.close(entry, domain.LEFT, records.is_waiting(), at=clock.now()):
            count("WaitlistLeft")
            return
    raise ServiceUnavailable("This entry is changing right now; retry in a moment.", headers={"Retry-After": "1"})
