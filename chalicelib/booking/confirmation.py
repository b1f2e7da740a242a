"""The confirmation worker's use case: capture, then held -> sold and CONFIRMING -> CONFIRMED.

At most two DynamoDB round trips (read the booking, one transaction) plus the capture. The
capture's idempotency key is derived from the booking, so a message delivered twice, or a
worker that crashed after capturing but before writing, captures once: the retry gets the
provider's first capture back and only then writes.
"""
from __future__ import annotations

import time

from ..core.observability import count, logger
from . import domain, lifecycle
from .models import Booking
from .notifications import enqueue_email
from .payment import void_unused_authorizations
from .payments import provider as payment_provider
from .payments.port import Capture, CaptureFailed
from .transactions import LabelledTransaction

WORKER = "confirmation-worker"


def confirm_booking(booking_id: str, now: float | None = None) -> str:
    """Returns what happened: confirmed, failed, or skipped (nothing to do)."""
    now = time.time() if now is None else now
    try:
        booking = Booking.get(booking_id, consistent_read=True)
    except Booking.DoesNotExist:
        logger.warning("confirmation for unknown booking", extra={"booking_id": booking_id})
        return "skipped"
    if booking.status != domain.CONFIRMING:
        if booking.status == domain.CONFIRMED and "confirmed" not in (booking.notified or []):
            enqueue_email(booking_id, "confirmed")  # the first delivery committed but did not get to notify
        return "skipped"
    if not booking.payment_id:
        capture = Capture(payment_id="", amount=0, capture_id="")  # a free booking: nothing to take
    else:
        try:
            capture = payment_provider().capture(booking.payment_id, amount=int(booking.authorized_amount),
                                                 idempotency_key=domain.provider_key(booking_id, "capture"))
        except CaptureFailed as exc:
            return _fail(booking, exc.reason, now)

    t = LabelledTransaction()
    lifecycle.sell_units(t, booking)
    ledger_action = lifecycle.ledger(t, booking, "capture", capture.amount, now, actor=WORKER,
                                     provider_ref=capture.capture_id)
    actions = lifecycle.move(booking, domain.CONFIRMED, now, by=WORKER, entries=[
        lifecycle.entry(now, event="payment_captured", by=WORKER, amount=capture.amount),
        lifecycle.entry(now, status=domain.CONFIRMED, by=WORKER)],
        extra=[ledger_action, Booking.captured_amount.set(capture.amount)])
    lifecycle.update_booking(t, booking, actions, domain.CONFIRMING)
    failures = t.commit()
    if failures:
        if "booking" in lifecycle.failed_labels(failures):
            return "skipped"  # another delivery of this message got there first
        raise RuntimeError(f"confirmation transaction failed: {failures}")
    count("BookingsConfirmed")
    void_unused_authorizations(booking)
    enqueue_email(booking_id, "confirmed")
    return "confirmed"


def _fail(booking: Booking, reason: str, now: float) -> str:
    """Capture failed: void the authorization, release the units, FAILED."""
    provider = payment_provider()
    provider.void(booking.payment_id,
                  idempotency_key=domain.provider_key(booking.booking_id, "void", booking.payment_id))
    t = LabelledTransaction()
    lifecycle.release_units(t, booking, sold=False)
    ledger_action = lifecycle.ledger(t, booking, "void", int(booking.authorized_amount), now, actor=WORKER,
                                     reason=reason, provider_ref=booking.payment_id)
    actions = lifecycle.move(booking, domain.FAILED, now, by=WORKER, entries=[
        lifecycle.entry(now, event="capture_failed", by=WORKER, note=reason),
        lifecycle.entry(now, status=domain.FAILED, by=WORKER)], extra=[ledger_action])
    lifecycle.update_booking(t, booking, actions, domain.CONFIRMING)
    failures = t.commit()
    if failures and "booking" not in lifecycle.failed_labels(failures):
        raise RuntimeError(f"failure transaction failed: {failures}")
    count("CapturesFailed")
    if failures:
        return "skipped"
    void_unused_authorizations(booking)
    return "failed"
