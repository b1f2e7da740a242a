"""Cancelling: a HELD booking at once, a CONFIRMED one through the cancellation worker.

The refund follows each item's cancellation policy as it was when the booking was made
(copied into the booking), never the listing's current one.
"""
from __future__ import annotations

import time
from datetime import date, datetime, timezone
from typing import Any

from ..core import queues
from ..core.auth import Principal
from ..core.errors import InvalidState, NotFound
from ..core.observability import count, logger
from ..inventory.domain import CancellationPolicy
from . import domain, lifecycle
from .models import Booking
from .notifications import enqueue_email
from .payment import void_unused_authorizations
from .payments import provider as payment_provider
from .transactions import LabelledTransaction
from .views import STAFF, booking_view, iso, money

WORKER = "cancellation-worker"
REDRIVE_SECONDS = 120


def load_for(viewer: Principal, booking_id: str) -> Booking:
    """The booking if the viewer may see it: its traveler, or staff. Else 404 (not 403: the
    existence of another traveler's booking is not revealed)."""
    if not domain.is_booking_id(booking_id):
        raise NotFound("No such booking.")
    try:
        booking = Booking.get(booking_id, consistent_read=True)
    except Booking.DoesNotExist:
        raise NotFound("No such booking.") from None
    if booking.traveler_id != viewer.user_id and not viewer.has_any(STAFF):
        raise NotFound("No such booking.")
    return booking


def _policy_items(booking: Booking) -> list[tuple[int, CancellationPolicy, date]]:
    return [(int(item.amount), CancellationPolicy(int(item.policy.free_until_hours),
                                                  int(item.policy.refund_percent_after)),
             date.fromisoformat(min(item.dates))) for item in booking.items]


def refund_due(booking: Booking, now: float) -> int:
    return domain.cancellation_refund(
        _policy_items(booking), now=datetime.fromtimestamp(now, tz=timezone.utc),
        captured=int(booking.captured_amount or 0), refunded=int(booking.refunded_amount or 0))


def _policy_words(policy: CancellationPolicy, first_day: date) -> str:
    deadline = datetime(first_day.year, first_day.month, first_day.day, tzinfo=timezone.utc)
    deadline = iso(deadline.timestamp() - policy.free_until_hours * 3600)
    if policy.refund_percent_after == 100:
        return "Free cancellation at any time."
    return (f"Full refund if cancelled before {deadline}; after that {policy.refund_percent_after}% "
            "of the price is refunded.")


def cancellation_quote(viewer: Principal, booking_id: str, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    booking = load_for(viewer, booking_id)
    items = _policy_items(booking)
    if booking.status == domain.HELD:
        return {"refund": money(0, booking.currency), "valid_until": None,
                "policy": "Nothing has been charged yet: cancelling releases the hold at no cost."}
    if booking.status != domain.CONFIRMED:
        raise InvalidState(f"A {booking.status} booking cannot be cancelled.", {"status": booking.status})
    _refuse_if_started(booking, now)
    until = domain.quote_valid_until([(policy, first) for _, policy, first in items],
                                     datetime.fromtimestamp(now, tz=timezone.utc))
    words = " ".join(dict.fromkeys(_policy_words(policy, first) for _, policy, first in items))
    return {"refund": money(refund_due(booking, now), booking.currency), "policy": words,
            "valid_until": iso(until.timestamp()) if until else None}


def cancel(viewer: Principal, booking_id: str, reason: str | None, now: float | None = None) -> tuple[int, Any]:
    """POST /bookings/{id}/cancel: (200, CANCELLED) for a hold, (202, CANCELLING) once paid."""
    now = time.time() if now is None else now
    booking = load_for(viewer, booking_id)
    by = "agent" if viewer.has_any(STAFF) and booking.traveler_id != viewer.user_id else "traveler"
    if booking.status == domain.HELD:
        t = LabelledTransaction()
        lifecycle.release_units(t, booking, sold=False)
        lifecycle.hold_ended(t, booking.traveler_id)
        actions = lifecycle.move(booking, domain.CANCELLED, now, by=by,
                                 entries=[lifecycle.entry(now, status=domain.CANCELLED, by=by, note=reason)])
        lifecycle.update_booking(t, booking, actions, domain.HELD)
        if t.commit():
            raise _state_changed(booking_id)
        count("BookingsCancelled")
        void_unused_authorizations(booking)
        enqueue_email(booking_id, "cancelled", refund=0)
        return 200, booking_view(booking, viewer, now)
    if booking.status == domain.CONFIRMED:
        _refuse_if_started(booking, now)
        refund = refund_due(booking, now)
        actions = lifecycle.move(booking, domain.CANCELLING, now, by=by, pending_until=int(now) + REDRIVE_SECONDS,
                                 entries=[lifecycle.entry(now, status=domain.CANCELLING, by=by, note=reason)],
                                 extra=[Booking.refund_quote.set(refund)])
        booking.refund_quote = refund
        try:
            Booking(booking_id).update(actions=actions, condition=Booking.status == domain.CONFIRMED)
        except Exception as exc:
            if getattr(exc, "cause_response_code", "") == "ConditionalCheckFailedException":
                raise _state_changed(booking_id) from exc
            raise
        queues.send(queues.CANCELLATIONS, {"type": "cancel", "booking_id": booking_id})
        return 202, booking_view(booking, viewer, now)
    raise InvalidState(f"A {booking.status} booking cannot be cancelled.", {"status": booking.status})


def _refuse_if_started(booking: Booking, now: float) -> None:
    if domain.has_started(booking.first_date, datetime.fromtimestamp(now, tz=timezone.utc)):
        raise InvalidState("The booking has started (its first date has begun) and can no longer be "
                           "cancelled; contact support.", {"first_date": booking.first_date})


def _state_changed(booking_id: str) -> InvalidState:
    current = Booking.get(booking_id, consistent_read=True)
    return InvalidState(f"The booking is now {current.status} and cannot be cancelled.",
                        {"status": current.status})


def process_cancellation(booking_id: str, now: float | None = None) -> str:
    """The cancellation worker: refund per the quote, release the sold units, CANCELLED."""
    now = time.time() if now is None else now
    try:
        booking = Booking.get(booking_id, consistent_read=True)
    except Booking.DoesNotExist:
        return "skipped"
    if booking.status != domain.CANCELLING:
        return "skipped"
    refund = min(int(booking.refund_quote or 0),
                 int(booking.captured_amount or 0) - int(booking.refunded_amount or 0))
    t = LabelledTransaction()
    extra = []
    entries = []
    if refund > 0:
        result = payment_provider().refund(booking.payment_id, amount=refund,
                                           idempotency_key=domain.provider_key(booking_id, "cancel-refund"))
        extra.append(lifecycle.ledger(t, booking, "refund", refund, now, actor=WORKER, reason="cancellation",
                                      provider_ref=result.refund_id))
        extra.append(Booking.refunded_amount.set(int(booking.refunded_amount or 0) + refund))
        entries.append(lifecycle.entry(now, event="refunded", by=WORKER, amount=refund))
    lifecycle.release_units(t, booking, sold=True)
    actions = lifecycle.move(booking, domain.CANCELLED, now, by=WORKER,
                             entries=entries + [lifecycle.entry(now, status=domain.CANCELLED, by=WORKER)],
                             extra=extra + [Booking.refund_quote.remove()])
    lifecycle.update_booking(t, booking, actions, domain.CANCELLING)
    failures = t.commit()
    if failures:
        if "booking" in lifecycle.failed_labels(failures):
            return "skipped"
        raise RuntimeError(f"cancellation transaction failed: {failures}")
    count("BookingsCancelled")
    if refund > 0:
        count("RefundsIssued")
    logger.info("booking cancelled", extra={"booking_id": booking_id, "refund": refund})
    enqueue_email(booking_id, "cancelled", refund=refund)
    return "cancelled"
