"""The sweeper (a schedule, every minute): expire lapsed holds, re-send stuck worker messages.

It queries the sparse `pending` index by deadline, never scans. Each expiry is one
transaction conditioned on HELD and on `expires_at` having passed, so it cannot race a payment
that got there first. (Payments also refuse expired holds themselves: the sweeper only
releases the units; it is not what makes expiry true.)
"""
from __future__ import annotations

import time

from pynamodb.exceptions import UpdateError

from ..core import queues
from ..core.observability import count, logger
from . import domain, lifecycle
from .models import Booking
from .notifications import enqueue_email
from .payment import void_unused_authorizations
from .transactions import UPDATE, LabelledTransaction

SWEEPER = "expiry-sweeper"
REDRIVE_SECONDS = 120
_REDRIVE = {domain.CONFIRMING: (queues.CONFIRMATIONS, "confirm"),
            domain.CANCELLING: (queues.CANCELLATIONS, "cancel")}


def expire_hold(booking: Booking, now: float) -> bool:
    t = LabelledTransaction()
    lifecycle.release_units(t, booking, sold=False)
    lifecycle.hold_ended(t, booking.traveler_id)
    actions = lifecycle.move(booking, domain.EXPIRED, now, by=SWEEPER)
    t.add(UPDATE, ("booking",), lambda tx: tx.update(
        Booking(booking.booking_id), actions=actions,
        condition=(Booking.status == domain.HELD) & (Booking.expires_at <= int(now))))
    failures = t.commit()
    if failures:
        if "booking" in lifecycle.failed_labels(failures):
            return False  # paid or cancelled meanwhile
        raise RuntimeError(f"expiry transaction failed: {failures}")
    count("HoldsExpired")
    void_unused_authorizations(booking)
    enqueue_email(booking.booking_id, "expired")
    return True


def release_expired_holds(now: float | None = None) -> dict[str, int]:
    now = time.time() if now is None else now
    expired = 0
    for booking in Booking.by_pending.query(domain.HELD, Booking.pending_until <= int(now)):
        try:
            expired += expire_hold(booking, now)
        except Exception:  # one bad booking must not stop the sweep of the others
            logger.exception("could not expire hold", extra={"booking_id": booking.booking_id})
    redriven = 0
    for status, (queue, kind) in _REDRIVE.items():
        for booking in Booking.by_pending.query(status, Booking.pending_until <= int(now)):
            queues.send(queue, {"type": kind, "booking_id": booking.booking_id})
            try:
                Booking(booking.booking_id).update(
                    actions=[Booking.pending_until.set(int(now) + REDRIVE_SECONDS)],
                    condition=Booking.status == status)
            except UpdateError:
                pass  # the worker finished meanwhile: the message we sent will be skipped
            redriven += 1
    if expired or redriven:
        logger.info("sweep", extra={"expired": expired, "redriven": redriven})
    return {"expired": expired, "redriven": redriven}
