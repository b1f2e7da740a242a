"""Cancelling: a HELD booking at once, a CONFIRMED one through the cancellation worker.

The refund follows each item's cancellation policy as it was when the booking was made
(copied into the booking), never the listing's current one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from ..core import clock, queues
from ..core.auth import Principal
from ..core.errors import NotFound, RequestInProgress
from ..core.observability import count, logger
from ..inventory.domain import CancellationPolicy
from . import domain, lifecycle, records
from .audit import audit_entry, staff_actor
from .notifications import enqueue_email
from .payment_cleanup import release_unkept_payments
from .payments import provider as payment_provider
from .payments.port import REFUND_PENDING, AmountExceeded, AuthorizationGone, InvalidPaymentState
from .transactions import PUT
from .views import STAFF, iso

WORKER = "cancellation-worker"


def load_for(viewer: Principal, booking_id: str) -> domain.Booking:
    """The booking if the viewer may see it: its traveler, or staff. Else 404 (not 403: the
    existence of another traveler's booking is not revealed)."""
    if not domain.is_booking_id(booking_id):
        raise NotFound("No such booking.")
    booking = records.load(booking_id)
    if booking is None or (booking.traveler_id != viewer.user_id and not viewer.has_any(STAFF)):
        raise NotFound("No such booking.")
    return booking


@dataclass(frozen=True)
class CancellationQuote:
    refund: int
    currency: str
    policy: str
    valid_until: float | None  # epoch seconds: when the refund changes next, if it does


def _policy_words(item: domain.BookedItem, now: float) -> str:
    policy: CancellationPolicy = item.policy
    if policy.refund_percent_after == 100:
        return f"{item.title}: free cancellation at any time."
    first = date.fromisoformat(min(item.dates))
    deadline = datetime(first.year, first.month, first.day, tzinfo=timezone.utc).timestamp() \
        - policy.free_until_hours * 3600
    after = f"{policy.refund_percent_after}% of its price is refunded"
    if deadline > now:
        return f"{item.title}: full refund if cancelled before {iso(deadline)}; after that {after}."
    return f"{item.title}: {after} (the free cancellation period ended {iso(deadline)})."


def cancellation_quote(viewer: Principal, booking_id: str, now: float | None = None) -> CancellationQuote:
    now = clock.now() if now is None else now
    booking = load_for(viewer, booking_id)
    status = booking.effective_status(now)
    if status == domain.HELD:
        return CancellationQuote(0, booking.currency, "Nothing has been charged yet: cancelling releases the "
                                 "hold at no cost.", None)
    if status != domain.CONFIRMED:
        raise domain.IllegalTransition(status, "be cancelled")
    if domain.has_started(booking.first_date, datetime.fromtimestamp(now, tz=timezone.utc)):
        raise domain.BookingStarted(booking.first_date)
    until = domain.quote_valid_until([(policy, first) for _, policy, first in booking.policy_items()],
                                     datetime.fromtimestamp(now, tz=timezone.utc))
    words = " ".join(_policy_words(item, now) for item in booking.items)
    return CancellationQuote(booking.refund_due(now), booking.currency, words,
                             until.timestamp() if until else None)


def cancel(viewer: Principal, booking_id: str, reason: str | None, now: float | None = None) -> domain.Booking:
    """POST /bookings/{id}/cancel: a hold CANCELLED at once; a paid booking CANCELLING."""
    now = clock.now() if now is None else now
    booking = load_for(viewer, booking_id)
    staff = viewer.has_any(STAFF) and booking.traveler_id != viewer.user_id
    by = staff_actor(viewer) if staff else "traveler"
    # Staff actions are audited in the transaction that makes them.
    extras = ((PUT, ("audit",), lambda tx: tx.save(audit_entry(booking_id, by, "cancel", now, reason=reason))),) \
        if staff else ()
    for _ in range(3):
        result = lifecycle.apply(booking, booking.cancel(now=now, by=by, reason=reason), extras=extras)
        if isinstance(result, lifecycle.Applied):
            break
        # Moved on, or still HELD with a payment attempt that joined meanwhile: decide again.
        booking = records.load(booking_id) or booking
    else:
        raise RequestInProgress("The booking is changing; retry shortly.")
    cancelled = result.booking
    if cancelled.status == domain.CANCELLED:
        count("BookingsCancelled")
        release_unkept_payments(cancelled)
        enqueue_email(booking_id, "cancelled", refund=0)
    else:
        queues.send(queues.CANCELLATIONS, {"type": "cancel", "booking_id": booking_id})
    return cancelled


def process_cancellation(booking_id: str, now: float | None = None, *, by: str = WORKER) -> str:
    """The cancellation worker: refund per the quote, release the sold units, CANCELLED."""
    now = clock.now() if now is None else now
    booking = records.load(booking_id)
    if booking is None or booking.status != domain.CANCELLING:
        return "skipped"
    refund, refund_id, pending = booking.cancellation_refund_now(now), None, False
    if refund > 0:
        refund, refund_id, pending = _refund(booking, refund)
    # A refund the provider settles later is followed like an agent's (refunds.settle_pending):
    # if it fails, the traveler was not paid and the reversal must find it.
    from .refunds import pending_cancellation_refund  # refunds imports this module: here, not above
    extras = (pending_cancellation_refund(booking, refund, refund_id, by, now),) if pending else ()
    result = lifecycle.apply(booking, booking.finish_cancellation(refunded=refund, refund_id=refund_id, now=now, by=by),
                             extras=extras)
    if isinstance(result, lifecycle.NotApplied):
        return "skipped"
    count("BookingsCancelled")
    if refund > 0:
        count("RefundsIssued")
    logger.info("booking cancelled", extra={"booking_id": booking_id, "refund": refund})
    enqueue_email(booking_id, "cancelled", refund=refund)
    return "cancelled"


def _refund(booking: domain.Booking, amount: int) -> tuple[int, str | None, bool]:
    """Refund at the provider under the booking's one cancellation key (a retry replays it):
    the amount, the provider's refund id, and whether the provider settles it later.
    If the provider says there is less (or nothing) left to refund, its record decides."""
    provider = payment_provider()
    try:
        result = provider.refund(booking.payment_id or "", amount=amount,
                                 idempotency_key=domain.provider_key(booking.booking_id, "cancel-refund"))
        return result.amount, result.refund_id, result.status == REFUND_PENDING
    except (AmountExceeded, InvalidPaymentState, AuthorizationGone):
        state = provider.retrieve(booking.payment_id or "")
        logger.warning("refund refused; the provider's record decides",
                       extra={"booking_id": booking.booking_id, "captured": state.captured_amount,
                              "refunded": state.refunded_amount})
        # What the provider refunded beyond what our ledger knows is this cancellation's refund.
        return max(0, state.refunded_amount - booking.refunded_amount), None, False
