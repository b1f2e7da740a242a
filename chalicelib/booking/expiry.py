"""The sweeper (a schedule, every minute): expire lapsed holds; nothing stays CONFIRMING or
CANCELLING.

It queries the sparse `pending` index by deadline, never scans. Each expiry is one transaction
conditioned on HELD and on `expires_at` having passed, so it cannot race a payment that got
there first. (Payments refuse expired holds themselves, and reads show them EXPIRED at once:
the sweeper releases the units.)

A CONFIRMING or CANCELLING booking whose worker has not finished gets its message sent again;
once it has waited `SETTLE_AFTER_SECONDS`, the sweeper stops waiting and settles it itself
from the provider's real state (API.md: never more than 5 minutes), and counts it.
"""
from __future__ import annotations


from pynamodb.exceptions import UpdateError

from ..core import clock, queues
from ..core.observability import count, logger
from . import domain, lifecycle, records
from .cancellation import process_cancellation
from .confirmation import settle_from_provider
from .models import Booking
from .notifications import enqueue_email
from .payment_cleanup import release_unkept_payments
from .refunds import check_pending, deliver_reports, resume_reserved

SWEEPER = "expiry-sweeper"
_REDRIVE = {domain.CONFIRMING: (queues.CONFIRMATIONS, "confirm"),
            domain.CANCELLING: (queues.CANCELLATIONS, "cancel")}


def expire_hold(booking: domain.Booking, now: float) -> bool:
    result = lifecycle.apply(booking, booking.expire(now=now, by=SWEEPER))
    if isinstance(result, lifecycle.NotApplied):
        return False  # paid or cancelled meanwhile
    count("HoldsExpired")
    release_unkept_payments(result.booking)
    enqueue_email(booking.booking_id, "expired")
    return True


def settle(booking: domain.Booking, now: float) -> str:
    """Decide a booking whose worker never finished, from the provider's state."""
    if booking.status == domain.CONFIRMING:
        outcome = settle_from_provider(booking, now, SWEEPER)
    else:
        outcome = process_cancellation(booking.booking_id, now, by=SWEEPER)
    if outcome != "skipped":
        count("BookingsSettledBySweeper")
        logger.warning("sweeper settled a booking", extra={"booking_id": booking.booking_id,
                                                             "status": booking.status, "outcome": outcome})
    return outcome


def _redrive(booking: domain.Booking, now: float) -> None:
    queue, kind = _REDRIVE[booking.status]
    queues.send(queue, {"type": kind, "booking_id": booking.booking_id})
    try:
        Booking(booking.booking_id).update(actions=[Booking.pending_until.set(int(now) + domain.REDRIVE_SECONDS)],
                                           condition=Booking.status == booking.status)
    except UpdateError:
        pass  # the worker finished meanwhile: the message we sent will be skipped


def release_expired_holds(now: float | None = None) -> dict[str, int]:
    now = clock.now() if now is None else now
    counts = {"expired": 0, "redriven": 0, "settled": 0, "cleaned": 0, "refunds_resumed": 0,
              "refunds_settled": 0, "refunds_reported": 0}
    for record in Booking.by_pending.query(domain.HELD, Booking.pending_until <= int(now)):
        try:
            counts["expired"] += expire_hold(records.to_domain(record), now)
        except Exception:  # one bad booking must not stop the sweep of the others
            logger.exception("could not expire hold", extra={"booking_id": record.booking_id})
    for status in _REDRIVE:
        for record in Booking.by_pending.query(status, Booking.pending_until <= int(now)):
            try:
                # The index may lag: decide on the booking as stored now.
                booking = records.load(record.booking_id)
                if booking is None or booking.status != status:
                    continue
                waited = int(now) - int(booking.pending_since or 0)
                if waited >= domain.SETTLE_AFTER_SECONDS:
                    counts["settled"] += settle(booking, now) != "skipped"
                else:
                    _redrive(booking, now)
                    counts["redriven"] += 1
            except Exception:
                logger.exception("could not settle booking", extra={"booking_id": record.booking_id})
    for record in Booking.by_pending.query(domain.CLEANUP, Booking.pending_until <= int(now)):
        try:
            # Settled, with authorizations of attempts it did not keep still to void.
            counts["cleaned"] += release_unkept_payments(records.to_domain(record))
        except Exception:
            logger.exception("could not clean up payments", extra={"booking_id": record.booking_id})
    # Agent refunds whose provider answer was never recorded (the process died, the provider
    # timed out and nobody retried): asked again under the same key, then recorded.
    counts["refunds_resumed"] = resume_reserved(now)
    # Refunds still pending at the provider whose settling event has not come.
    counts["refunds_settled"] = check_pending(now)
    # Refunds decided (reversed, refused) whose case the agents' queue did not get (a crash).
    counts["refunds_reported"] = deliver_reports(now)
    if any(counts.values()):
        logger.info("sweep", extra=counts)
    return counts
