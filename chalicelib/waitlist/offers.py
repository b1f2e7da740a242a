"""Offering freed units to a listing's line: the oldest entry that fits gets an automatic hold.

`offer(listing_id, freed_dates)` walks the line oldest first, a page (MAX_LINE entries, one
query) at a time, keeping what it knows of the free units (domain.Availability: each page's
new dates read strongly consistent once, before the page is offered). It pages on while units
are left on the freed dates (the sweep: to the end of the line, where lapsed claims and passed
dates may also wait), within a time budget; whatever it leaves, the sweep comes back for.
For each entry that fits:

1. claim it (WAITING -> OFFERING, conditional): a traveler leaving and another worker offering
   the same entry are excluded, and a claim lapses after CLAIM_SECONDS if the worker dies;
2. place a normal hold through the booking context's `place_hold`, as the traveler, with the
   Idempotency-Key derived from the entry: a retry, a duplicate message or a takeover of a lapsed
   claim gets the first booking back, never a second hold for that entry. The hold's own
   transaction is conditioned on each date's free units, so no interleaving gives out more
   units than are free;
3. SOLD_OUT: back to WAITING (its place kept), and the next entry is tried (a smaller quantity
   may fit); the traveler at their hold limits (429): back to WAITING, skipped this time; a hold:
   the email is queued, then the entry becomes OFFERED (leaving the line, conditional on the
   claim). A crash between the hold and that write is finished by the next run: the claim
   lapses, the retry finds the same booking.

An error that does not say the hold was refused (a timeout, a lost answer) keeps the claim: the
hold may have committed, so the entry must not go back to WAITING; once the claim lapses the
next run replays the same key and either finds that booking or places the hold. A replayed
booking that ended meanwhile (its hold expired unseen) did not serve the entry: the entry gets
a new key under the same claim and a new hold if the units are there, else waits again.

Two runs at once: an entry one of them is claiming counts as taking its units for the other,
which therefore never hands units to a later entry while an earlier one may still get them;
whatever that leaves unoffered, the sweep offers a minute later.
"""
from __future__ import annotations

import dataclasses
import itertools
import secrets
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Iterator

from ..core import clock
from ..core.auth import Principal
from ..core.errors import (ApiError, IdempotencyKeyReused, RateLimited, RequestInProgress,
                           ServiceUnavailable, SoldOut, ValidationError)
from ..core.lazy import lazy_module
from ..core.observability import count, logger
from . import domain, records
from .models import WaitlistEntry
from .service import today

bookings = lazy_module("chalicelib.booking.service")
booking_notifications = lazy_module("chalicelib.booking.notifications")

MAX_LINE = 200  # entries of one listing read per round trip
# One run's time for one listing: the worker's timeout is 30 s; the sweep passes its own
# deadline too. Whatever is left then, the sweep takes up again a minute later.
OFFER_SECONDS = 20.0
EMAIL_EVENT = "held_from_waitlist"
_monotonic = time.monotonic  # budgets run on the process's clock, not core.clock (tests move that)


@dataclass
class Outcome:
    offered: list[str] = field(default_factory=list)  # entry ids that got their hold in this run
    skipped: list[str] = field(default_factory=list)  # fitted, but refused (sold out meanwhile, limits)
    expired: list[str] = field(default_factory=list)
    unfinished: bool = False  # stopped by its time budget before the end of what it would look at


def hold_key(entry: domain.Entry) -> str:
    """The Idempotency-Key of an entry's hold: one hold per entry, whoever places it, however
    often. From a secret of the entry, not its id: the traveler, who sees the id, could
    otherwise spend the key first with another body and block their own offer."""
    return f"waitlist-{entry.entry_id}-{entry.offer_key}"


def pages(listing_id: str) -> Iterator[list[domain.Entry]]:
    """The listing's WAITING and OFFERING entries, oldest first (the sparse index), a page of
    MAX_LINE per round trip, read only as far as the caller goes."""
    size = MAX_LINE
    query = WaitlistEntry.waiting_by_listing.query(listing_id, scan_index_forward=True, page_size=size)
    while True:
        page = [records.to_domain(item) for item in itertools.islice(query, size)]
        if not page:
            return
        yield page


def line(listing_id: str) -> list[domain.Entry]:
    """The whole line (every page)."""
    return [entry for page in pages(listing_id) for entry in page]


def offer(listing_id: str, freed: Iterable[str] | None = None, *, now: float | None = None,
          deadline: float | None = None) -> Outcome:
    """Offer the listing's free units to its line. `freed`: the dates whose units came free
    (None: every date of the line, as the sweep does). `deadline`: a `_monotonic()` time not to
    start another entry after (at most OFFER_SECONDS from now either way)."""
    now = clock.now() if now is None else now
    budget = _monotonic() + OFFER_SECONDS
    deadline = budget if deadline is None else min(deadline, budget)
    freed_dates = None if freed is None else sorted(set(freed))
    outcome = Outcome()
    view = domain.Availability()
    first_day = today(now)
    for page in pages(listing_id):
        candidates = [e for e in page if domain.serves(e.dates, freed_dates)]
        new_dates = view.unknown([*(freed_dates or ()), *(d for e in candidates for d in e.dates)])
        if new_dates and _monotonic() < deadline:
            view.read(new_dates, records.available(listing_id, new_dates))
        for entry in [*candidates, None]:  # None: the page's end, where the time is checked too
            if _monotonic() >= deadline:
                outcome.unfinished = True
                logger.info("waitlist offer stopped by its time budget; the sweep goes on",
                            extra={"listing_id": listing_id, "next_entry": page[-1].entry_id if entry is None
                                   else entry.entry_id})
                break
            if entry is not None:
                _consider(entry, view, now, first_day, outcome)
        if outcome.unfinished:
            break
        if freed_dates is not None and not view.any_left(freed_dates):
            break  # what came free is given out (or promised to live claims)
    if outcome.offered:
        count("WaitlistOffered", len(outcome.offered))
    return outcome


def _consider(entry: domain.Entry, view: domain.Availability, now: float, first_day: date,
              outcome: Outcome) -> None:
    if domain.has_passed(entry.wanted, first_day) and entry.status == domain.WAITING:
        if records.close(entry, domain.EXPIRED, records.is_waiting(), at=now):
            outcome.expired.append(entry.entry_id)
        return
    if entry.claimed_by_other(now):
        view.take(entry.wanted)  # its units may be going to it right now
        return
    if entry.status == domain.OFFERING:
        # A lapsed claim: its worker died, perhaps after placing the hold, whose units the
        # counters then already show as taken. Finished whatever is free: the replay.
        _offer_entry(entry, view, now, outcome)
        return
    if view.fits(entry.wanted):
        _offer_entry(entry, view, now, outcome)


def _principal(entry: domain.Entry) -> Principal:
    """The traveler as the holds route would see them (their id, their token's contact)."""
    return Principal(user_id=entry.traveler_id, email=entry.traveler_email, name=entry.traveler_name,
                     roles=frozenset({"travelers"}))


def _request(entry: domain.Entry) -> Any:
    """The hold request of the entry, built from what it stored alone: a retry sends the very
    same body, so the idempotency record matches it."""
    from ..booking.schemas import ContactIn, HoldItemIn, HoldRequest

    w = entry.wanted
    item: dict[str, Any] = {"listing_id": entry.listing_id, "quantity": w.quantity}
    if w.date is not None:
        item["date"] = w.date
    else:
        item.update(check_in=w.check_in, check_out=w.check_out)
    return HoldRequest(items=[HoldItemIn.model_validate(item)],
                       contact=ContactIn(email=entry.traveler_email, name=entry.traveler_name))


def _offer_entry(entry: domain.Entry, view: domain.Availability, now: float, outcome: Outcome) -> None:
    token = secrets.token_hex(8)
    claimed = records.claim(entry, token, now)
    if claimed is None:
        # It moved since the line (an index, which may lag) was read. Left or expired: it takes
        # nothing. Claimed or offered by another run: its units may be going to it, or may have
        # gone after the counters were read.
        now_stored = records.load(entry.entry_id)
        if now_stored is None or now_stored.status not in (domain.LEFT, domain.EXPIRED):
            view.take(entry.wanted)
        return
    entry = claimed  # its offer key as stored now, not as the (possibly older) line had it
    for _ in range(2):  # a second time only with a new key, after a replayed hold that had ended
        result = _place(entry, token, view, outcome)
        if result is None:
            return
        replayed = not hasattr(result, "booking_id")
        booking_id, reference = (result.body["booking_id"], result.body["reference"]) if replayed \
            else (result.booking_id, result.reference)
        if replayed:
            # Placed by an earlier run: whether the first read already saw its units taken is unknown.
            view.read(entry.dates, records.available(entry.listing_id, entry.dates))
            if _ended_unseen(booking_id):
                # A lost answer's hold that lapsed before anyone told the traveler: it did not
                # serve them. A new key, so the next hold is a new booking, not that one again.
                fits = view.fits(entry.wanted)
                fresh = dataclasses.replace(entry, offer_key=domain.new_offer_key())
                if not records.rekey(entry, token, fresh.offer_key, clock.now(), release=not fits):
                    return  # our claim lapsed and another run took the entry over
                logger.info("waitlist entry's replayed hold had ended: new offer key",
                            extra={"entry_id": entry.entry_id, "booking_id": booking_id})
                count("WaitlistHoldLapsedUnseen")
                if not fits:
                    outcome.skipped.append(entry.entry_id)
                    return
                entry = fresh
                continue
        # The email is queued before the entry is marked: a crash in between sends it again on the
        # retry, and the notification worker's marker on the booking sends it once.
        booking_notifications.enqueue_email(booking_id, EMAIL_EVENT)
        if records.close(entry, domain.OFFERED, records.claimed(token), at=clock.now(), booking_id=booking_id,
                         reference=reference):
            outcome.offered.append(entry.entry_id)
            logger.info("waitlist hold placed", extra={"entry_id": entry.entry_id, "booking_id": booking_id})
        if not replayed:
            view.take(entry.wanted)
        return


def _place(entry: domain.Entry, token: str, view: domain.Availability, outcome: Outcome) -> Any:
    """The entry's hold (a booking, or the key's first answer replayed), or None when it was
    not placed (the entry released, expired or left under our claim to lapse)."""
    try:
        return bookings.place_hold(_principal(entry), _request(entry), hold_key(entry))
    except SoldOut as exc:
        records.release(entry, token, clock.now())
        view.learn(_left_on(exc))
        outcome.skipped.append(entry.entry_id)
    except RateLimited as exc:  # the traveler's active holds (or attempts a minute): not now
        records.release(entry, token, clock.now())
        outcome.skipped.append(entry.entry_id)
        logger.info("waitlist entry skipped: traveler at a hold limit",
                    extra={"entry_id": entry.entry_id, "error": exc.message})
        count("WaitlistSkippedAtHoldLimit")
    except ValidationError as exc:
        # Its date passed while it was claimed (the request itself is built from a valid entry).
        if domain.has_passed(entry.wanted, today(clock.now())):
            if records.close(entry, domain.EXPIRED, records.claimed(token), at=clock.now()):
                outcome.expired.append(entry.entry_id)
            return None
        records.release(entry, token, clock.now())
        logger.error("waitlist hold refused", extra={"entry_id": entry.entry_id, "details": exc.details})
        outcome.skipped.append(entry.entry_id)
    except (RequestInProgress, ServiceUnavailable):
        # In progress: the same entry's hold is being placed by a worker whose claim lapsed; it
        # keeps going. Unavailable: the booking context asks for a retry with the same key.
        # Either way our claim lapses in turn, for the next run to finish with that key.
        view.take(entry.wanted)
    except IdempotencyKeyReused:  # cannot happen: the key is the entry's secret and its body fixed
        records.release(entry, token, clock.now())
        logger.error("waitlist hold key reused", extra={"entry_id": entry.entry_id})
        outcome.skipped.append(entry.entry_id)
    except ApiError as exc:
        # Any other answer of the booking context is a refusal (a placed hold is answered with
        # its booking): nothing is held, the entry waits again. Retrying the message would
        # only be refused again; the sweep tries once more a minute later.
        records.release(entry, token, clock.now())
        logger.error("waitlist hold refused", extra={"entry_id": entry.entry_id, "code": exc.code,
                                                     "error": exc.message})
        outcome.skipped.append(entry.entry_id)
    except Exception:
        # Not an answer (a timeout, a lost connection): the hold may have committed. The claim
        # is kept, not released, so that the entry never waits again beside a hold it holds;
        # once it lapses the next run replays the same key (the message is retried, the sweep
        # runs every minute) and marks the entry with that booking, or places the hold.
        view.take(entry.wanted)
        logger.warning("waitlist hold's outcome unknown; the claim lapses for a replay",
                       extra={"entry_id": entry.entry_id})
        raise
    return None


def _ended_unseen(booking_id: str) -> bool:
    """The replayed booking ended without serving the traveler (one consistent read)."""
    booking = bookings.read_booking(booking_id)
    if booking is None:  # written with its key in one transaction: cannot be missing
        return True
    return domain.hold_lapsed_unseen(booking.effective_status(clock.now()), booking.was_confirmed)


def _left_on(exc: SoldOut) -> dict[str, int]:
    """The free units per date a SOLD_OUT answer reports."""
    left: dict[str, int] = {}
    for item in (exc.details or {}).get("items", []):
        for day in item.get("dates", []):
            left[str(day["date"])] = int(day.get("available", 0))
    return left
