"""Releasing authorizations a booking did not keep.

Every attempt takes the booking's payment lock and adds its id to `attempt_ids` before the
provider is called, so the set lists every attempt that may have authorized something. Once a
booking is settled, each attempt other than the kept one is found at the provider by id (the
attempt's recorded payment id, else by replaying the attempt's `create`, which never
authorizes) and voided by id. This covers a process that died between the provider's
authorization and our write, a request that lost a race, and a client that went away.
"""
from __future__ import annotations

from datetime import datetime, timezone

from pynamodb.exceptions import PynamoDBException

from ..core.observability import logger
from . import domain
from .models import Booking as BookingRecord
from .models import PaymentAttempt
from .payments import provider as payment_provider


def payment_metadata(booking: domain.Booking, attempt: str) -> dict[str, str]:
    """Part of the attempt's `create` at the provider: a replay must send exactly the same."""
    return {"booking_id": booking.booking_id, "reference": booking.reference, "attempt": attempt}


def create_payment(booking: domain.Booking, attempt: str) -> str:
    """The attempt's payment at the provider (created once per attempt; never authorizes)."""
    return payment_provider().create(amount=booking.amount, currency=booking.currency,
                                     idempotency_key=domain.attempt_provider_key(booking.booking_id, attempt),
                                     metadata=payment_metadata(booking, attempt))


def void_payment(booking: domain.Booking, payment_id: str) -> None:
    payment_provider().void(payment_id, idempotency_key=domain.void_key(booking.booking_id, payment_id))


def release_unkept_payments(booking: domain.Booking) -> int:
    """Voids every attempt of a settled booking except the one it kept; returns how many.

    `booking` is as the settling transition stored it. Its attempt set is final: attempts join
    only while HELD, and the transitions out of HELD are conditioned on the set they read.
    The transition left the booking pending as CLEANUP; only when every void succeeded is that
    cleared, so a provider outage or a crash here is retried by the sweeper. Never raises.
    """
    booking_id = booking.booking_id
    if not booking.settled or not booking.unkept_attempts:
        return 0
    unkept = sorted(booking.unkept_attempts)
    try:
        recorded = {a.attempt_id: a for a in PaymentAttempt.query(booking_id, consistent_read=True)}
    except PynamoDBException:
        logger.exception("could not read payment attempts", extra={"booking_id": booking_id})
        return 0
    voided = 0
    for attempt in unkept:
        try:
            known = recorded.get(attempt)
            payment_id = known.payment_id if known and known.payment_id else create_payment(booking, attempt)
            void_payment(booking, payment_id)
            voided += 1
            if known is not None:
                _mark_voided(known)
        except Exception:  # the provider, DynamoDB, or the provider's secret: never the caller's problem
            logger.exception("could not void an unkept authorization; the sweeper retries",
                             extra={"booking_id": booking_id, "attempt": attempt})
    if voided == len(unkept):
        _cleaned_up(booking_id)
    return voided


def _cleaned_up(booking_id: str) -> None:
    """Out of the pending index: nothing is left to void."""
    try:
        BookingRecord(booking_id).update(actions=[BookingRecord.pending.remove(), BookingRecord.pending_until.remove()],
                                         condition=BookingRecord.pending == domain.CLEANUP)
    except PynamoDBException:
        pass  # already cleared by another run; or the sweeper voids again (idempotent) and retries


def _mark_voided(attempt: PaymentAttempt) -> None:
    attempt.update(actions=[PaymentAttempt.outcome.set("voided"),
                            PaymentAttempt.updated_at.set(datetime.now(timezone.utc).isoformat())])
