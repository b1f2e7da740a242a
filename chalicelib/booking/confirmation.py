"""The confirmation worker's use case: capture, then CONFIRMING -> CONFIRMED (held -> sold).

At most two DynamoDB round trips (read the booking, one transaction) plus the capture. The
capture's idempotency key is derived from the kept attempt, so a message delivered twice, or a
worker that crashed after capturing but before writing, captures once.

Every provider outcome has its handler:
- captured (now or before) -> CONFIRMED;
- capture failed -> the authorization is voided, FAILED, units released, traveler emailed;
- the authorization is gone (voided, expired, cancelled) -> FAILED likewise;
- the provider is unavailable -> raise: the message comes back, and the sweeper settles the
  booking from the provider's real state if it is still CONFIRMING minutes later.
"""
from __future__ import annotations


from ..core import clock, queues
from ..core.observability import count, logger
from . import domain, lifecycle, records
from .notifications import enqueue_email
from .payment_cleanup import release_unkept_payments, void_payment
from .payments import provider as payment_provider
from .payments.port import (AUTHORIZED, CAPTURED, VOIDED, AmountExceeded, AuthorizationGone, Capture, CaptureFailed,
                            InvalidPaymentState, UnknownPayment)

WORKER = "confirmation-worker"
CONFIRMED, FAILED, SKIPPED = "confirmed", "failed", "skipped"


def confirm_booking(booking_id: str, now: float | None = None, *, by: str = WORKER) -> str:
    """Returns what happened: confirmed, failed, or skipped (nothing to do)."""
    now = clock.now() if now is None else now
    booking = records.load(booking_id)
    if booking is None:
        logger.warning("confirmation for unknown booking", extra={"booking_id": booking_id})
        return SKIPPED
    if booking.status != domain.CONFIRMING:
        if booking.status == domain.CONFIRMED and "confirmed" not in booking.notified:
            enqueue_email(booking_id, "confirmed")  # the first delivery committed but did not get to notify
        if booking.status == domain.CONFIRMED:
            # The first delivery may have died before telling recommendations; counting is
            # idempotent there, so telling it again is harmless.
            enqueue_recommendations(booking_id)
        return SKIPPED
    if not booking.payment_id:
        return _confirm(booking, Capture(payment_id="", amount=0, capture_id=""), now, by)
    try:
        capture = payment_provider().capture(booking.payment_id, amount=booking.authorized_amount,
                                             idempotency_key=domain.capture_key(booking_id, booking.payment_attempt or ""))
    except CaptureFailed as exc:
        void_payment(booking, booking.payment_id)
        return _fail(booking, exc.reason, now, by)
    except AuthorizationGone:
        return _fail(booking, "authorization_gone", now, by)
    except (InvalidPaymentState, AmountExceeded, UnknownPayment) as exc:
        # Not an answer a capture of our own authorization should get: trust the provider's
        # record of the payment, not our expectation.
        logger.warning("capture refused; settling from the payment's state",
                       extra={"booking_id": booking_id, "error": type(exc).__name__})
        return settle_from_provider(booking, now, WORKER)
    return _confirm(booking, capture, now, by)


def settle_from_provider(booking: domain.Booking, now: float, by: str) -> str:
    """A CONFIRMING booking decided by what the provider says of its payment now (the
    sweeper, for a booking whose worker never finished; or a capture refused oddly)."""
    if not booking.payment_id:
        return _confirm(booking, Capture(payment_id="", amount=0, capture_id=""), now, by)
    try:
        state = payment_provider().retrieve(booking.payment_id)
    except UnknownPayment:
        return _fail(booking, "payment_unknown", now, by, voided=False)  # nothing to void: no ledger void
    if state.status == CAPTURED:
        return _confirm(booking, Capture(state.payment_id, state.captured_amount, ""), now, by)
    if state.status == AUTHORIZED:
        if by == WORKER:
            # The provider says capturable but refused the capture: let the message come back.
            raise RuntimeError(f"capture of {booking.payment_id} refused although it is authorized")
        return confirm_booking(booking.booking_id, now, by=by)
    # created (never authorized) or voided: nothing will ever be captured.
    if state.status != VOIDED:
        void_payment(booking, state.payment_id)
    return _fail(booking, f"payment_{state.status}", now, by)


def _confirm(booking: domain.Booking, capture: Capture, now: float, by: str) -> str:
    result = lifecycle.apply(booking, booking.confirm(captured=capture.amount, capture_id=capture.capture_id or None,
                                                      now=now, by=by))
    if isinstance(result, lifecycle.NotApplied):
        return SKIPPED  # another delivery of this message got there first
    count("BookingsConfirmed")
    release_unkept_payments(result.booking)
    enqueue_email(booking.booking_id, "confirmed")
    enqueue_recommendations(booking.booking_id)
    return CONFIRMED


def enqueue_recommendations(booking_id: str) -> None:
    """The booking joins its traveler's history and the co-booking counts (the
    recommendations worker counts it once, however often this is sent)."""
    queues.send(queues.RECOMMENDATIONS, {"type": "booking_confirmed", "booking_id": booking_id})


def _fail(booking: domain.Booking, reason: str, now: float, by: str, *, voided: bool = True) -> str:
    """Nothing can be captured: FAILED, units released, the traveler told. `voided`: the
    authorization was released (by us or the provider), so the ledger records its void."""
    result = lifecycle.apply(booking, booking.fail(reason=reason, voided=voided and bool(booking.payment_id),
                                                   now=now, by=by))
    if isinstance(result, lifecycle.NotApplied):
        return SKIPPED
    count("CapturesFailed")
    logger.info("booking failed", extra={"booking_id": booking.booking_id, "reason": reason})
    release_unkept_payments(result.booking)
    enqueue_email(booking.booking_id, "failed")
    return FAILED
