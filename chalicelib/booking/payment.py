"""Paying for a hold: authorize now, capture later (the confirmation worker).

Two DynamoDB round trips plus the provider call:
1. a conditional update takes the booking's payment lock (HELD, not expired, the caller's) and
   returns the booking;
2. after the provider authorized, one transaction moves the booking HELD -> CONFIRMING, appends
   the authorization to the ledger and stores the answer under the Idempotency-Key.
The provider sees an idempotency key derived from ours, so a retry after a lost response, or
after a crash between the two steps, never authorizes twice.
"""
from __future__ import annotations

import time
from typing import Any

from pynamodb.exceptions import UpdateError

from ..core import idempotency, queues
from ..core.auth import Principal
from ..core.errors import (HoldExpired, InvalidState, NotFound, RawCardNumber, RequestInProgress,
                           ServiceUnavailable, ValidationError)
from ..core.http import error_body
from ..core.observability import count, logger
from . import domain, lifecycle
from .models import Booking, PaymentAttemptAttribute
from .payments import provider as payment_provider
from .payments.port import (Authorization, Declined, InvalidPaymentMethod, PaymentError, ProviderUnavailable,
                            looks_like_card_number)
from .schemas import PaymentRequest
from .transactions import PUT, UPDATE, LabelledTransaction
from .views import booking_view

LOCK_SECONDS = 60
# A CONFIRMING booking whose worker has not finished by then gets its message sent again.
REDRIVE_SECONDS = 120


def _take_lock(booking_id: str, user: Principal, lock: str, attempt: PaymentAttemptAttribute,
               now: float) -> Booking | None:
    """Takes the payment lock, records the attempt (so an authorization orphaned by a crash can
    be found and voided later) and returns the booking: one conditional UpdateItem."""
    booking = Booking(booking_id)
    try:
        booking.update(
            actions=[Booking.payment_lock.set(lock), Booking.payment_lock_until.set(int(now) + LOCK_SECONDS),
                     Booking.payment_attempts.set((Booking.payment_attempts | []).append([attempt]))],
            condition=(Booking.traveler_id == user.user_id) & (Booking.status == domain.HELD)
            & (Booking.expires_at > int(now))
            & (Booking.payment_lock.does_not_exist() | (Booking.payment_lock == lock)
               | (Booking.payment_lock_until < int(now))))
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return booking


def _why_not_payable(booking_id: str, user: Principal, now: float) -> Exception:
    try:
        booking = Booking.get(booking_id, consistent_read=True)
    except Booking.DoesNotExist:
        return NotFound("No such booking.")
    if booking.traveler_id != user.user_id:
        return NotFound("No such booking.")
    if booking.status == domain.EXPIRED or (booking.status == domain.HELD and booking.expires_at <= now):
        return HoldExpired("The hold has expired; its units were released. Place a new hold.")
    if booking.status == domain.HELD:
        return RequestInProgress("Another payment for this booking is being processed.")
    return InvalidState(f"A {booking.status} booking cannot be paid.", {"status": booking.status})


def _metadata(booking: Booking) -> dict[str, str]:
    # Part of the authorization's fingerprint at the provider: replays must send the same.
    return {"booking_id": booking.booking_id, "reference": booking.reference}


def void_unused_authorizations(booking: Booking) -> int:
    """Voids the authorizations of payment attempts the booking did not keep.

    An attempt whose process died between the provider's authorization and our transaction
    leaves money reserved on the traveler's card with nothing pointing at it. Every attempt is
    recorded when it takes the lock, so once the booking is settled (expired, cancelled,
    confirmed or failed) each attempt other than the kept one is replayed at the provider under
    its own idempotency key (which returns the same authorization, or a decline) and voided.
    Returns how many were voided. Never raises: a provider problem is logged, not fatal.
    """
    if int(booking.amount or 0) == 0:
        return 0
    provider, voided = payment_provider(), 0
    for attempt in {a.key: a for a in booking.payment_attempts or []}.values():
        if attempt.key == booking.payment_key:
            continue
        try:
            authorization = provider.authorize(amount=int(booking.amount), currency=booking.currency,
                                               payment_method=attempt.method, idempotency_key=attempt.key,
                                               metadata=_metadata(booking))
            provider.void(authorization.payment_id, idempotency_key=domain.provider_key(
                booking.booking_id, "void", authorization.payment_id))
            voided += 1
        except (Declined, InvalidPaymentMethod):
            continue  # that attempt never authorized anything
        except PaymentError:
            logger.exception("could not void an unused authorization", extra={"booking_id": booking.booking_id})
    return voided


def _release_lock(booking: Booking, lock: str) -> None:
    try:
        booking.update(actions=[Booking.payment_lock.remove(), Booking.payment_lock_until.remove()],
                       condition=Booking.payment_lock == lock)
    except UpdateError:
        pass  # someone else's lock now, or the booking moved on: nothing of ours to release


def _declined(booking: Booking, lock: str, key: str, request_hash: str, reason: str, now: float) -> tuple[int, Any]:
    """The hold stays; the decline enters the timeline and is the answer this key replays."""
    count("PaymentsDeclined")
    body = error_body("PAYMENT_DECLINED", "The payment was declined; the hold stays until it expires, "
                      "so you can try another payment method.", {"reason": reason})
    t = LabelledTransaction()
    actions = [Booking.payment_lock.remove(), Booking.payment_lock_until.remove(),
               Booking.timeline.set(Booking.timeline.append([
                   lifecycle.entry(now, event="payment_declined", by="traveler", note=reason)]))]
    t.add(UPDATE, ("booking",), lambda tx: tx.update(Booking(booking.booking_id), actions=actions,
                                                       condition=Booking.payment_lock == lock))
    t.add(PUT, ("idempotency",), lambda tx: idempotency.save_response(tx, key, request_hash, 402, body, now))
    failures = t.commit()
    if "idempotency" in lifecycle.failed_labels(failures):
        # A replay of an earlier decline: the transaction (and its unlock) did not apply.
        _release_lock(booking, lock)
        previous = idempotency.previous_response(key, request_hash)
        if previous is not None:
            return previous
    return 402, body


def pay(user: Principal, booking_id: str, request: PaymentRequest, idempotency_key: str,
        now: float | None = None) -> tuple[int, Any]:
    """POST /bookings/{id}/payment -> (202, booking CONFIRMING) or the first answer again."""
    now = time.time() if now is None else now
    method = request.payment_method
    if looks_like_card_number(method):
        # Refused before anything is stored or logged: card data never enters Itinera.
        raise RawCardNumber("Send a payment provider token, never a card number.", {"field": "payment_method"})
    if not domain.is_booking_id(booking_id):
        raise NotFound("No such booking.")
    key = idempotency.record_key("payment", user.user_id, idempotency_key)
    request_hash = domain.fingerprint("POST /bookings/{id}/payment", booking_id, method)
    lock = f"{key}|{request_hash}"
    provider_key = domain.provider_key(booking_id, "authorize", request_hash)
    booking = _take_lock(booking_id, user, lock, PaymentAttemptAttribute(key=provider_key, method=method), now)
    if booking is None:
        previous = idempotency.previous_response(key, request_hash)
        if previous is not None:
            return previous
        raise _why_not_payable(booking_id, user, now)

    provider = payment_provider()
    if int(booking.amount) == 0:
        # A free booking (vendors may price a date at 0): nothing to authorize or capture.
        authorization = Authorization(payment_id="", amount=0, currency=booking.currency)
    else:
        try:
            authorization = provider.authorize(
                amount=int(booking.amount), currency=booking.currency, payment_method=method,
                idempotency_key=provider_key, metadata=_metadata(booking))
        except Declined as exc:
            return _declined(booking, lock, key, request_hash, exc.reason, now)
        except InvalidPaymentMethod as exc:
            _release_lock(booking, lock)
            raise ValidationError.for_fields(
                {"payment_method": "is not a payment method the provider accepts"}) from exc
        except ProviderUnavailable as exc:
            _release_lock(booking, lock)
            raise ServiceUnavailable("The payment provider is unavailable; retry with the same "
                                     "Idempotency-Key.") from exc

    t = LabelledTransaction()
    ledger_action = lifecycle.ledger(t, booking, "authorization", authorization.amount, now, actor="traveler",
                                     provider_ref=authorization.payment_id)
    actions = lifecycle.move(
        booking, domain.CONFIRMING, now, by="traveler", pending_until=int(now) + REDRIVE_SECONDS,
        entries=[lifecycle.entry(now, event="payment_authorized", by="traveler", amount=authorization.amount),
                 lifecycle.entry(now, status=domain.CONFIRMING, by="traveler")],
        extra=[ledger_action, Booking.authorized_amount.set(authorization.amount),
               Booking.payment_key.set(provider_key),
               Booking.payment_lock.remove(), Booking.payment_lock_until.remove()]
        + ([Booking.payment_id.set(authorization.payment_id), Booking.payment_provider.set(provider.name)]
           if authorization.payment_id else []))
    booking.payment_id, booking.authorized_amount = authorization.payment_id or None, authorization.amount
    response = booking_view(booking, user, now)
    t.add(UPDATE, ("booking",), lambda tx: tx.update(
        Booking(booking_id), actions=actions,
        condition=(Booking.status == domain.HELD) & (Booking.payment_lock == lock) & (Booking.expires_at > int(now))))
    t.add(PUT, ("idempotency",), lambda tx: idempotency.save_response(tx, key, request_hash, 202, response, now))
    lifecycle.hold_ended(t, booking.traveler_id)
    failures = t.commit()
    if failures:
        # Nothing was recorded: the hold expired or was cancelled while the provider answered,
        # or this key already answered another request. Either way the authorization we just
        # made must not stay open, and the lock must not block the next attempt.
        if authorization.payment_id:
            provider.void(authorization.payment_id,
                          idempotency_key=domain.provider_key(booking_id, "void", authorization.payment_id))
        _release_lock(booking, lock)
        if "idempotency" in lifecycle.failed_labels(failures):
            previous = idempotency.previous_response(key, request_hash)  # 422 if another body
            if previous is not None:
                return previous
        raise _why_not_payable(booking_id, user, now)
    count("PaymentsAuthorized")
    logger.info("payment authorized", extra={"booking_id": booking_id, "amount": authorization.amount})
    queues.send(queues.CONFIRMATIONS, {"type": "confirm", "booking_id": booking_id})
    return 202, response
